"""Incident intake: read and check incident rows from files, and write them out.

Pure rules, frames in and frames out: no database, no Streamlit.

Reading (:func:`read_incidents`) streams: a CSV is parsed in blocks by
pyarrow's CSV reader and checked in chunks of ``chunk_rows`` with vectorised
pyarrow/numpy/pandas operations, so a file of millions of rows needs memory
for one chunk, plus one key per row during a first pass that finds repeated
``(source, external_id)`` keys. A GB18030 file is transcoded once, per pass
over the reader, to a temporary UTF-8 copy (removed when the pass ends).
GeoJSON and Open311 files are JSON documents and are read whole, then checked
in chunks. About 300,000 CSV rows a second on one core (``python -m
gis.incidents`` prints the figure for a generated million-row file).

Formats in, told apart by extension:

- **CSV** (``.csv``, ``.txt``), header row, UTF-8, UTF-8 with BOM or GB18030
  (Chinese spreadsheet exports), see :func:`detect_encoding`. Columns
  :data:`REQUIRED_FIELDS`, optional :data:`OPTIONAL_FIELDS`; names are matched
  ignoring case and surrounding spaces.
- **GeoJSON** (``.geojson``, or ``.json`` holding a FeatureCollection) of
  Point features whose properties are the CSV columns; lon/lat come from the
  geometry.
- **Open311** GeoReport v2 (``.json`` holding a top-level array), as returned by
  ``GET /requests.json``; service codes map to categories through
  ``gis/rules/open311.toml`` (:func:`load_open311_codes`).

Every row is either kept (the ``incidents`` frame of a :class:`Chunk`, columns
:data:`INCIDENT_COLUMNS`) or refused with a reason that names the value and
the fix (the ``rejects`` frame, columns :data:`REJECT_COLUMNS`). A row with
several problems is refused once per problem, so count refused rows with
:attr:`Chunk.refused` (``rejects['line'].nunique()``). Blank rows are skipped silently. When
``(source, external_id)`` repeats in a file, the last occurrence is kept (a
later row is a newer state) and a warning names the lines.

Writing: :func:`incidents_to_csv`, :func:`incidents_to_geojson`,
:func:`incidents_to_open311` / :func:`write_open311` and :func:`rejects_to_csv`.
Times are written in ISO 8601 with the China offset (+08:00).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import functools
import io
import json
import math
import os
import tempfile
import tomllib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyproj

from gis.crs import out_of_china, parse_crs, to_wgs84
from gis.dispatch import (
    CHINA_TZ, STATUS_NAMES_ZH, Rules, category_from_text, is_open, load_rules,
    status_from_text,
)
from gis.errors import InputError

__all__ = [
    "ENCODINGS", "EXPORT_COLUMNS", "FORMATS", "INCIDENT_COLUMNS", "OPEN311_RULES_PATH",
    "OPTIONAL_FIELDS", "REJECT_COLUMNS", "REQUIRED_FIELDS",
    "Chunk", "IncidentReader",
    "detect_encoding", "incidents_to_csv", "incidents_to_geojson", "incidents_to_open311",
    "load_open311_codes", "read_incidents", "rejects_to_csv", "write_open311",
]

#: Columns an incident CSV must have (``source`` may come from the ``source``
#: option instead). Of these, ``source``, ``external_id``, ``lon``, ``lat``,
#: ``reported_at`` and ``status`` must also have a value on every row.
REQUIRED_FIELDS: tuple[str, ...] = (
    "source", "external_id", "category", "lon", "lat", "reported_at", "status",
    "description", "address",
)

#: Columns an incident file may have.
OPTIONAL_FIELDS: tuple[str, ...] = ("priority", "closed_at", "reporter_phone")

#: Columns of the frame of good rows (:attr:`Chunk.incidents`).
INCIDENT_COLUMNS: tuple[str, ...] = (
    "line", "source", "external_id", "category", "status", "priority", "description",
    "address", "reporter_phone", "reported_at", "closed_at", "lon", "lat",
    "input_crs", "input_lon", "input_lat",
)

#: Columns of the frame of refused rows (:attr:`Chunk.rejects`).
REJECT_COLUMNS: tuple[str, ...] = ("line", "field", "reason", "raw")

#: Columns an export starts with (DESIGN.md); any other frame columns follow.
EXPORT_COLUMNS: tuple[str, ...] = (
    "source", "external_id", "category", "status", "lon", "lat", "reported_at",
    "description", "micro_code", "exclusive_code",
)

#: What :attr:`IncidentReader.format` can be.
FORMATS: tuple[str, ...] = ("csv", "geojson", "open311")

#: What :func:`detect_encoding` can answer.
ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig", "gb18030")

#: The shipped Open311 service-code table.
OPEN311_RULES_PATH = Path(__file__).with_name("rules") / "open311.toml"

# Fields that must have a value on every row (the rest may be empty).
_VALUE_FIELDS = ("source", "external_id", "lon", "lat", "reported_at", "status")
_TEXT_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS

# Columns our own exports add; a CSV carrying them is read without a warning.
_KNOWN_EXTRA_COLUMNS = frozenset({
    "line", "input_crs", "input_lon", "input_lat", "micro_code", "exclusive_code",
    "tier", "due_at", "assignee", "handler", "updated_at", "created_at", "id",
    "suggested_code", "suggested_distance_m", "grid_version_id", "batch_id",
})

_EXAMPLE_TIME = "2025-03-01T08:30:00+08:00"

# pyarrow reads the CSV in blocks of this many bytes (a row may not be longer).
_BLOCK_BYTES = 4 << 20
# Bytes decoded at a time when checking a file's encoding.
_DECODE_BYTES = 4 << 20
# UTF-8 is checked over the whole file (fast); GB18030 accepts nearly any
# byte pair, so a sample tells it, and the transcoding pass checks the rest.
_GB18030_SAMPLE_BYTES = 16 << 20
# Row warnings of one kind listed one by one before they are only counted.
_WARNINGS_PER_KIND = 100

# China's extent (lon 73..136, lat 3..54), flipped: a point whose lon and lat
# fall in these ranges has its columns the wrong way round.
_SWAPPED_LON = (3.0, 54.0)
_SWAPPED_LAT = (73.0, 136.0)

# A zone designator at the end of an ISO 8601 time: Z, +hh, +hhmm, +hh:mm.
# Tested on the text after the date (10 characters), so 2025-03-01 is naive.
_ZONE_RE = r"(?:[zZ]|[+-]\d\d(?::?\d\d)?)$"
# ISO 8601 times as pyarrow's cast reads them, with the field ranges, so that
# casting the values that match does not fail (but for a day past the end of
# its month): a date, optionally T or space and hh[:mm[:ss[.ffffff]]], and for
# the aware form a zone Z, ±hh, ±hhmm or ±hh:mm.
_ISO_DATE = r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_ISO_TIME = r"[T ](?:[01]\d|2[0-3])(?::[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?"
_ISO_NAIVE = _ISO_DATE + "(?:" + _ISO_TIME + ")?$"
_ISO_AWARE = _ISO_DATE + _ISO_TIME + r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)$"
# What counts as a number (decimal, exponent, nan/inf, which are then refused
# as not finite); the fallback when not every value casts.
_NUMBER_RE = (r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
              r"|^[+-]?(?i:nan|inf|infinity)$")

_OPEN311_DISPLAY = MappingProxyType({
    "external_id": "service_request_id", "lon": "long", "reported_at": "requested_datetime",
    "closed_at": "updated_datetime", "category": "service_code",
})
_SAME_NAMES = MappingProxyType({})
_COORD_FIELDS = frozenset({"lon", "lat", "long", "lon/lat", "geometry"})


# ---------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------

@dataclass
class Chunk:
    """One chunk of a file, checked.

    Attributes
    ----------
    incidents
        Good rows, columns :data:`INCIDENT_COLUMNS`: ``line`` (int: physical
        line of the row's start in a CSV, the header being line 1; feature or
        item number, from 1, in GeoJSON and Open311); ``source``,
        ``external_id`` (trimmed text); ``category`` (a category code of the
        rules); ``status`` (a stage code of :data:`gis.dispatch.STATUSES`);
        ``priority``, ``description``, ``address``, ``reporter_phone`` (text
        exactly as given; empty ``description`` and ``address`` are ``''``,
        empty ``priority`` and ``reporter_phone`` are missing, NA);
        ``reported_at``, ``closed_at`` (``datetime64[us, UTC]``; ``closed_at``
        NaT when not given); ``lon``, ``lat`` (float degrees, WGS-84);
        ``input_crs`` (``wgs84``, ``gcj02``, ``bd09`` or ``EPSG:<code>``);
        ``input_lon``, ``input_lat`` (float, the coordinates as given, in
        ``input_crs``).
    rejects
        Refused rows, columns :data:`REJECT_COLUMNS`: ``line``, ``field`` (the
        column at fault, as the file names it; NA for a whole-row problem),
        ``reason`` (what is wrong, the value and the fix) and ``raw`` (the row
        as read: CSV text, or the JSON of the feature). One row per problem:
        :attr:`refused` counts the rows.
    warnings
        Things that did not refuse a row: unknown categories filed as
        ``other``, duplicate ids, unused columns.
    records
        Input rows this chunk covers: good, refused, blank and superseded
        duplicates.
    """

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    records: int = 0

    @property
    def refused(self) -> int:
        """Rows refused (a row refused for two reasons has two ``rejects`` rows)."""
        if "line" not in self.rejects.columns:
            return 0
        return int(self.rejects["line"].nunique())


class IncidentReader:
    """An incident file opened for reading; iterate it for :class:`Chunk` objects.

    Made by :func:`read_incidents`, which has already checked the format, the
    encoding and (for a CSV) the header. Each iteration reads the file again
    from the start.

    Attributes
    ----------
    path
        The file.
    format
        ``'csv'``, ``'geojson'`` or ``'open311'``.
    encoding
        ``'utf-8'``, ``'utf-8-sig'`` (UTF-8 with a BOM) or ``'gb18030'``.
    crs
        The input CRS, normalised by :func:`gis.crs.parse_crs`.
    source
        The ``source`` that overrides the file's column, or None.
    chunk_rows
        Input rows per chunk.
    """

    def __init__(self, path: str | os.PathLike, *, crs: str = "wgs84", source: str | None = None,
                 chunk_rows: int = 200_000, rules: Rules | None = None,
                 service_codes: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.crs = parse_crs(crs)
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise InputError(f"chunk_rows {chunk_rows!r} is not a positive whole number",
                             field="chunk_rows", fix="give the rows per chunk, e.g. 200000")
        self.chunk_rows = chunk_rows
        if source is not None:
            if not isinstance(source, str) or not source.strip():
                raise InputError(f"source {source!r} is empty", field="source",
                                 fix="name the system the incidents come from, e.g. 12345")
            source = source.strip()
        self.source = source
        self._rules = rules or load_rules()
        self._service_codes = service_codes
        self.format, self.encoding, self._document = _open_document(self.path)
        if self.format == "open311" and self.source is None:
            self.source = "open311"
        self._csv = (_CsvFile(self.path, self.encoding, source_given=self.source is not None)
                     if self.format == "csv" else None)

    def __repr__(self) -> str:
        return (f"IncidentReader({str(self.path)!r}, format={self.format!r}, "
                f"encoding={self.encoding!r}, crs={self.crs!r})")

    def __iter__(self) -> Iterator[Chunk]:
        if self._csv is None:
            yield from self._chunks(*self._json_tables())
            return
        with self._csv.utf8_data() as data:
            yield from self._chunks(*self._csv_tables(data))

    def _chunks(self, tables: Iterator[pa.Table], state: _State) -> Iterator[Chunk]:
        yielded = False
        for table in _rechunk(tables, self.chunk_rows):
            chunk = _check(table, state)
            if not yielded:
                chunk.warnings[:0] = state.file_warnings
            yielded = True
            yield chunk
        if not yielded:
            yield Chunk(_empty_incidents(), _empty_rejects(), list(state.file_warnings), 0)

    def read_all(self) -> Chunk:
        """Read the whole file into one :class:`Chunk` (for small files and tests)."""
        chunks = list(self)
        return Chunk(
            incidents=_concat([c.incidents for c in chunks], _empty_incidents()),
            rejects=_concat([c.rejects for c in chunks], _empty_rejects()),
            warnings=[w for c in chunks for w in c.warnings],
            records=sum(c.records for c in chunks),
        )

    # -- per format ------------------------------------------------------------

    def _state(self, **kwargs) -> _State:
        return _State(rules=self._rules, crs=self.crs, source=self.source, **kwargs)

    def _csv_tables(self, data: Path) -> tuple[Iterator[pa.Table], _State]:
        csv_file = self._csv
        state = self._state(file_warnings=list(csv_file.warnings),
                            raw=csv_file.raw_text, skip_blank=True,
                            dedupe=csv_file.duplicates(self.source, data))
        return csv_file.tables(data), state

    def _json_tables(self) -> tuple[Iterator[pa.Table], _State]:
        if self.format == "geojson":
            table, items = _geojson_table(self._document, self.path)
            display = _SAME_NAMES
        else:
            codes = (self._service_codes if self._service_codes is not None
                     else load_open311_codes(rules=self._rules))
            table, items = _open311_table(self._document, self.path, codes=codes,
                                          rules=self._rules)
            display = _OPEN311_DISPLAY

        def raw(rec: int, _table_row: dict[str, Any]) -> str:
            return json.dumps(items[rec], ensure_ascii=False, default=str)

        state = self._state(raw=raw, skip_blank=False, display=display,
                            dedupe=_repeated_keys(_keys(table, self.source)))
        return iter([table]), state


def read_incidents(path: str | os.PathLike, *, crs: str = "wgs84", source: str | None = None,
                   chunk_rows: int = 200_000, rules: Rules | None = None,
                   service_codes: Mapping[str, str] | None = None) -> IncidentReader:
    """Open an incident file (CSV, GeoJSON or Open311) for checked, chunked reading.

    The format, the encoding and a CSV's header are checked now; rows are
    read and checked as the reader is iterated::

        reader = read_incidents("cases.csv", crs="gcj02", source="12345")
        for chunk in reader:
            save(chunk.incidents); log(chunk.rejects, chunk.warnings)

    Parameters
    ----------
    path
        The file: ``.csv``/``.txt`` (CSV), ``.geojson`` or ``.json``
        (GeoJSON FeatureCollection of Points) or ``.json`` (Open311 GeoReport
        v2 array of service requests).
    crs
        CRS of the coordinates in the file (anything
        :func:`gis.crs.parse_crs` accepts): ``wgs84`` (default), ``gcj02``
        (Amap, Tencent), ``bd09`` (Baidu) or an EPSG code; lon/lat in degrees,
        or easting/northing for a projected EPSG code. Kept rows carry WGS-84
        degrees in ``lon``, ``lat``.
    source
        The source of every row (e.g. ``12345``), overriding the file's
        ``source`` column, which may then be absent. Open311 defaults to
        ``'open311'``.
    chunk_rows
        Input rows per :class:`Chunk`.
    rules
        Dispatch rules for categories; None for the shipped rules.
    service_codes
        Open311 service code → category code; None for
        ``gis/rules/open311.toml``.

    Returns
    -------
    IncidentReader
        With ``.format``, ``.encoding``; iterate it for :class:`Chunk` objects.

    Raises
    ------
    InputError
        The file is missing, empty, of an unknown format or encoding, not
        valid JSON, or a CSV header lacks a column of :data:`REQUIRED_FIELDS`;
        or ``crs``, ``source`` or ``chunk_rows`` is unusable.
    """
    return IncidentReader(path, crs=crs, source=source, chunk_rows=chunk_rows, rules=rules,
                          service_codes=service_codes)


# ---------------------------------------------------------------------------
# Encoding and format
# ---------------------------------------------------------------------------

def check_records(records: Sequence[Mapping[str, Any]], *, crs: str = "wgs84", source: str | None = None,
                  rules: Rules | None = None) -> Chunk:
    """Check incidents given as records (a form, an API call) exactly as a file's rows are.

    Parameters
    ----------
    records
        Dicts with the CSV fields (``source, external_id, category, lon, lat,
        reported_at, status, description, address``; optional ``priority,
        closed_at, reporter_phone``); lon, lat in degrees of ``crs``.
    crs, source, rules
        As for :func:`read_incidents`.

    Returns
    -------
    Chunk
        Good rows (converted to WGS-84) and refused ones with their reasons;
        ``line`` is the record's position, from 1.
    """
    rules = rules or load_rules()
    source = source.strip() if isinstance(source, str) and source.strip() else None
    columns = {name: [_as_text(record.get(name)) for record in records] for name in _TEXT_FIELDS}
    table = _json_columns(columns, len(records))

    def raw(rec: int, _row: dict[str, Any]) -> str:
        return json.dumps(records[rec], ensure_ascii=False, default=str)

    state = _State(rules=rules, crs=parse_crs(crs), source=source, raw=raw, skip_blank=False,
                   dedupe=_repeated_keys(_keys(table, source)))
    return _check(table, state)


def detect_encoding(path: str | os.PathLike) -> str:
    """The text encoding of a file: UTF-8 (with or without BOM) or GB18030.

    The whole file is decoded as UTF-8 (a few hundred MB/s); if that fails it
    is decoded as GB18030, the encoding of Chinese Excel and WPS exports
    (a superset of GBK and GB2312).

    Parameters
    ----------
    path
        Any text file.

    Returns
    -------
    str
        ``'utf-8-sig'`` (UTF-8 starting with a byte order mark), ``'utf-8'``
        (also plain ASCII) or ``'gb18030'``.

    Raises
    ------
    InputError
        The file cannot be read, is UTF-16/UTF-32, or is neither UTF-8 nor
        GB18030.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"file {path} not found", fix="check the path") from None
    except OSError as exc:
        raise InputError(f"file {path} cannot be read: {exc.strerror}",
                         fix="check the path and its permissions") from None
    with handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
                            codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputError(f"{path.name} is UTF-16 or UTF-32 text",
                             fix="save it as 'CSV UTF-8' (Excel) or UTF-8 text")
        bom = head.startswith(codecs.BOM_UTF8)
        handle.seek(0)
        utf8_error = _decode_error(handle, "utf-8")
        if utf8_error is None:
            return "utf-8-sig" if bom else "utf-8"
        if bom:
            raise InputError(f"{path.name} starts as UTF-8 but has bytes that are not UTF-8 "
                             f"({utf8_error})", fix="save it again as 'CSV UTF-8'")
        handle.seek(0)
        if _decode_error(handle, "gb18030", limit=_GB18030_SAMPLE_BYTES) is None:
            return "gb18030"
    raise InputError(f"{path.name} is neither UTF-8 nor GB18030 ({utf8_error})",
                     fix="save it as 'CSV UTF-8' (Excel: 另存为 → CSV UTF-8)")


def _decode_error(handle, encoding: str, *, limit: int | None = None) -> str | None:
    """Decode a binary file (to the end, or its first ``limit`` bytes); None if it
    decodes, else where it fails."""
    if encoding == "utf-8":
        return _utf8_error(handle)
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    while True:
        block = handle.read(_DECODE_BYTES)
        if limit is not None and offset + len(block) >= limit:
            block = b""  # a sample: a character cut at its end is not an error
        try:
            decoder.decode(block, final=not block and limit is None)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start:exc.start + 1].hex()
            return f"byte 0x{bad} at offset {offset + exc.start}"
        if not block:
            return None
        offset += len(block)


def _utf8_error(handle) -> str | None:
    """Like :func:`_decode_error` for UTF-8, with pyarrow's (SIMD) validator: twice as fast."""
    tail, offset = b"", 0
    while True:
        block = handle.read(_DECODE_BYTES)
        data = tail + block
        cut = len(data) if not block else _utf8_complete(data)
        if cut:
            # A zero-copy binary array over data[:cut]; casting to string validates it.
            array = pa.Array.from_buffers(
                pa.binary(), 1, [None, pa.py_buffer(np.array([0, cut], dtype=np.int32)),
                                 pa.py_buffer(data)])
            try:
                array.cast(pa.string())
            except pa.ArrowInvalid:
                try:
                    data[:cut].decode("utf-8")
                except UnicodeDecodeError as exc:
                    return (f"byte 0x{data[exc.start:exc.start + 1].hex()} "
                            f"at offset {offset + exc.start}")
        if not block:
            return None
        tail, offset = data[cut:], offset + cut


def _utf8_complete(data: bytes) -> int:
    """Length of ``data`` without a multi-byte character cut off at its end."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        lead = data[n - back]
        if lead & 0xC0 != 0x80:  # ASCII or a lead byte
            need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            return n - back if need > back else n
    return n


def _open_document(path: Path) -> tuple[str, str, Any]:
    """(format, encoding, parsed JSON or None) of an incident file."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".geojson", ".json"):
        if not path.exists():
            raise InputError(f"file {path} not found", fix="check the path")
        raise InputError(f"cannot tell the format of {path.name} from its extension",
                         fix="use .csv or .txt (CSV), .geojson (GeoJSON) or .json "
                             "(GeoJSON FeatureCollection or Open311 service requests)")
    encoding = detect_encoding(path)
    if suffix in (".csv", ".txt"):
        return "csv", encoding, None
    try:
        with path.open(encoding=encoding) as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}", fix="fix the JSON at the place named") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        return "geojson", encoding, document
    if isinstance(document, list) and suffix == ".json":
        return "open311", encoding, document
    kind = document.get("type") if isinstance(document, dict) else type(document).__name__
    raise InputError(f"{path.name} is neither a GeoJSON FeatureCollection nor an Open311 list "
                     f"of service requests (found {kind!r})",
                     fix="give a FeatureCollection of Point features, or the array that "
                         "GET /requests.json returns (as a .json file)")


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------

class _CsvFile:
    """A CSV file's header and its rows as pyarrow tables of text, in file order.

    pyarrow's streaming reader parses the file (quoted fields with commas,
    doubled quotes and newlines, as RFC 4180). Rows whose field count differs
    from the header's come back through its invalid-row handler with their
    record number and text; they are parsed with the csv module and put back
    in place, so no row is lost and physical line numbers stay exact.
    """

    def __init__(self, path: Path, encoding: str, *, source_given: bool) -> None:
        self.path = path
        self.encoding = encoding
        # pyarrow skips a UTF-8 BOM itself; other encodings go through Python's codec.
        self._arrow_encoding = "utf8" if encoding.startswith("utf-8") else encoding
        self.header = self._read_header()
        self.width = len(self.header)
        names, seen = [], {}
        for i, name in enumerate(self.header):
            key = name.replace("\ufeff", "").strip().lower()
            if key in _TEXT_FIELDS:
                if key in seen:
                    raise InputError(
                        f"{path.name}: column {key!r} appears twice in the header "
                        f"(columns {seen[key] + 1} and {i + 1})", field=key,
                        fix="keep one of them")
                seen[key] = i
                names.append(key)
            else:
                names.append(f"__col{i}")
        self.columns = names
        self.positions = seen
        missing = [f for f in REQUIRED_FIELDS
                   if f not in seen and not (f == "source" and source_given)]
        if missing:
            optional = ", ".join(OPTIONAL_FIELDS)
            raise InputError(
                f"{path.name}: the header lacks column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} (found: {', '.join(map(repr, self.header))})",
                field=missing[0],
                fix=f"the first row must name the columns {', '.join(REQUIRED_FIELDS)} "
                    f"(optional: {optional})"
                    + ("; or pass --source and leave out the source column"
                       if missing == ["source"] else ""))
        unused = [h for h, n in zip(self.header, names) if n.startswith("__col")
                  and h.strip() and h.strip().lower() not in _KNOWN_EXTRA_COLUMNS]
        self.warnings = ([f"column{'s' if len(unused) > 1 else ''} "
                          f"{', '.join(map(repr, unused))} not used "
                          f"(known: {', '.join(_TEXT_FIELDS)})"] if unused else [])
        self._header_lines = 1 + sum(_count_newlines_text(h) for h in self.header)

    def _options(self, handler, *, include: list[str] | None = None,
                 block_size: int | None = None, encoding: str = "utf8") -> dict[str, Any]:
        # use_threads=False: only then does pyarrow number the irregular rows.
        return dict(
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block_size or _BLOCK_BYTES,
                                           encoding=encoding),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                             invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in getattr(self, "header", [])},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                include_columns=include),
        )

    def _read_header(self) -> list[str]:
        # The header is pyarrow's own, so the names match the reader's exactly.
        for block_size in (1 << 20, _BLOCK_BYTES):
            try:
                reader = pacsv.open_csv(self.path, **self._options(
                    lambda row: "skip", block_size=block_size, encoding=self._arrow_encoding))
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    raise InputError(f"{self.path.name} is empty",
                                     fix="give a CSV whose first row names the columns") from None
                if block_size == _BLOCK_BYTES:
                    raise _csv_error(self.path, exc) from None
                continue
            except UnicodeDecodeError as exc:
                with self.path.open("rb") as handle:
                    where = _decode_error(handle, self.encoding) or exc.reason
                raise InputError(f"{self.path.name} is neither UTF-8 nor GB18030 ({where})",
                                 fix="save it as 'CSV UTF-8' (Excel: 另存为 → CSV UTF-8)") from None
            return list(reader.schema.names)
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def utf8_data(self) -> Iterator[Path]:
        """The file as UTF-8: itself, or a temporary UTF-8 copy of a GB18030 file.

        pyarrow decodes other encodings through Python's codec on each pass; a
        GB18030 file is read twice (duplicates, then rows), so it is
        transcoded once instead. Line breaks and text are unchanged.
        """
        if self.encoding.startswith("utf-8"):
            yield self.path
            return
        handle, name = tempfile.mkstemp(prefix="incidents-", suffix=".csv")
        try:
            with os.fdopen(handle, "wb") as out, self.path.open("rb") as source:
                decoder = codecs.getincrementaldecoder(self.encoding)()
                offset = 0
                while True:
                    block = source.read(_DECODE_BYTES)
                    try:
                        out.write(decoder.decode(block, final=not block).encode("utf-8"))
                    except UnicodeDecodeError as exc:
                        bad = exc.object[exc.start:exc.start + 1].hex()
                        raise InputError(
                            f"{self.path.name} is neither UTF-8 nor GB18030 (byte 0x{bad} at "
                            f"offset {offset + exc.start})",
                            fix="save it as 'CSV UTF-8' (Excel: 另存为 → CSV UTF-8)") from None
                    if not block:
                        break
                    offset += len(block)
            yield Path(name)
        finally:
            os.unlink(name)

    def _reader(self, data: Path, invalid: deque, include: list[str] | None = None):
        def on_invalid(row) -> str:
            invalid.append((row.number, row.text))
            return "skip"
        try:
            return pacsv.open_csv(data, **self._options(on_invalid, include=include))
        except pa.ArrowInvalid as exc:
            raise _csv_error(self.path, exc) from None

    def _records(self, data: Path, include: list[str] | None
                 ) -> Iterator[tuple[pa.RecordBatch | None, list, int]]:
        """(batch of well-formed rows, [(record number, text)] of the others, first record)."""
        invalid: deque = deque()
        reader = self._reader(data, invalid, include)
        next_rec = 2  # record 1 is the header
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise _csv_error(self.path, exc) from None
            m, taken = batch.num_rows, []
            if invalid and invalid[0][0] is None:  # only numbered without threads
                raise RuntimeError("pyarrow did not number an irregular CSV row")
            while invalid and invalid[0][0] < next_rec + m + len(taken):
                if invalid[0][0] < next_rec:
                    raise RuntimeError("pyarrow reported an invalid CSV row out of order")
                taken.append(invalid.popleft())
            yield batch, taken, next_rec
            next_rec += m + len(taken)
        if invalid:
            taken = list(invalid)
            if [n for n, _ in taken] != list(range(next_rec, next_rec + len(taken))):
                raise RuntimeError("pyarrow reported an invalid CSV row out of order")
            yield None, taken, next_rec

    def _table(self, batch: pa.RecordBatch | None, invalid: list, first_rec: int,
               columns: list[str], *, with_lines: bool) -> pa.Table:
        """One block as a table of ``columns`` in record order, with __rec (0-based row).

        ``batch`` holds the well-formed rows, its columns named ``columns``;
        ``invalid`` the others as (record number, text), which are split with
        the csv module: a short row is padded with empty fields, a long one is
        refused unless its extra fields are empty (__pre_reason). With
        ``with_lines``, __span is the number of physical lines of each row.
        """
        m = 0 if batch is None else batch.num_rows
        n = m + len(invalid)
        recs = np.arange(first_rec, first_rec + n, dtype=np.int64)
        arrays = {name: (batch.column(name) if batch is not None
                         else pa.array([], type=pa.string())) for name in columns}
        spans = np.ones(n, dtype=np.int64) if with_lines else None
        if with_lines and batch is not None:
            for name in batch.schema.names:
                counts = _count_newlines(batch.column(name))
                if counts is not None:
                    spans[:m] += counts
        if not invalid:
            table = pa.table(arrays)
        else:
            numbers = np.array([number for number, _ in invalid], dtype=np.int64)
            rows = [_split_row(text) for _, text in invalid]
            at = {name: self.columns.index(name) for name in columns}
            for name in columns:
                extra = pa.array([row[at[name]] if at[name] < len(row) else "" for row in rows],
                                 type=pa.string())
                arrays[name] = pa.concat_arrays([arrays[name], extra])
            # Rows so far are [well-formed..., irregular...]; put them in record order.
            placed = np.isin(recs, numbers)
            order = np.argsort(np.concatenate([recs[~placed], numbers]), kind="stable")
            table = pa.table(arrays).take(pa.array(order))
            raw = np.full(n, None, dtype=object)
            raw[placed] = [text for _, text in invalid]
            long_rows = np.full(n, None, dtype=object)
            long_rows[placed] = [
                (f"the row has {len(row)} fields but the header has {self.width}; "
                 "put text that contains commas in double quotes")
                if len(row) > self.width and any(v.strip() for v in row[self.width:]) else None
                for row in rows]
            table = table.append_column("__raw", pa.array(raw, type=pa.string()))
            table = table.append_column("__pre_reason", pa.array(long_rows, type=pa.string()))
            if with_lines:
                spans = np.concatenate([spans[:m], 1 + np.array(
                    [_count_newlines_text(text) for _, text in invalid], dtype=np.int64)])[order]
        table = table.append_column("__rec", pa.array(recs - 2))
        if with_lines:
            table = table.append_column("__span", pa.array(spans))
        return table

    def tables(self, data: Path) -> Iterator[pa.Table]:
        """All rows of ``data`` (the file as UTF-8), in blocks: every column (renamed),
        __rec, __line, __raw, __pre_reason."""
        next_line = 1 + self._header_lines
        for batch, invalid, first_rec in self._records(data, None):
            if batch is not None:
                batch = pa.RecordBatch.from_arrays(batch.columns, names=self.columns)
            table = self._table(batch, invalid, first_rec, self.columns, with_lines=True)
            spans = table.column("__span").to_numpy()
            starts = next_line + np.cumsum(spans) - spans
            next_line += int(spans.sum())
            table = table.drop_columns(["__span"]).append_column("__line", pa.array(starts))
            for name in ("__raw", "__pre_reason"):
                if name not in table.column_names:
                    table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
            yield table.select(self.columns + ["__rec", "__line", "__raw", "__pre_reason"])

    def duplicates(self, source: str | None, data: Path) -> _Dedupe | None:
        """First pass over ``data``: the (source, external_id) keys that repeat."""
        wanted = ["external_id"] + ([] if source is not None else ["source"])
        include = [self.header[self.positions[name]] for name in wanted]
        parts = []
        for batch, invalid, first_rec in self._records(data, include):
            if batch is not None:
                batch = pa.RecordBatch.from_arrays([batch.column(h) for h in include], names=wanted)
            table = self._table(batch, invalid, first_rec, wanted, with_lines=False)
            parts.append(_keys(table, source))
        return _repeated_keys(pa.concat_arrays(parts)) if parts else None

    def raw_text(self, rec: int, row: Mapping[str, Any]) -> str:
        """The row as CSV text (its own text when it was irregular)."""
        if row.get("__raw") is not None:
            return row["__raw"]
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([row.get(name, "") for name in self.columns])
        return out.getvalue()


def _csv_error(path: Path, exc: Exception) -> InputError:
    text = str(exc)
    if "straddl" in text:
        return InputError(f"{path.name}: a row is longer than {_BLOCK_BYTES >> 20} MB",
                          fix="check for a quote that is never closed (\"…)")
    return InputError(f"{path.name} cannot be read as CSV: {text}",
                      fix="check the quoting and the column count of the rows around it")


def _split_row(text: str) -> list[str]:
    """Fields of one CSV record given as text (it may span lines)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return [value for row in rows for value in row]


def _count_newlines_text(text: str) -> int:
    """Line breaks in text: \\r\\n, \\r or \\n each count once (as line readers do)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _count_newlines(column: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Line breaks per value of a text column; None when there are none at all.

    Works on the column's data buffer: the positions of LF bytes are mapped to
    values through the offsets. A CR (alone or in CRLF) is rare enough to be
    counted by a regular expression.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return None
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = pc.cast(column, pa.string())
    buffers = column.buffers()
    if buffers[2] is None:
        return None
    width = np.int32 if pa.types.is_string(column.type) else np.int64
    offsets = np.frombuffer(buffers[1], dtype=width)[column.offset:column.offset + len(column) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    if np.any(data == 13):
        counts = pc.count_substring_regex(pc.fill_null(column, ""), r"\r\n|\r|\n")
        return counts.to_numpy(zero_copy_only=False).astype(np.int64)
    breaks = np.flatnonzero(data == 10)
    if not len(breaks):
        return None
    rows = np.searchsorted(offsets, breaks + offsets[0], side="right") - 1
    return np.bincount(rows, minlength=len(column)).astype(np.int64)


def _rechunk(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Regroup tables of any size into tables of exactly ``rows`` rows (the last fewer)."""
    pending: list[pa.Table] = []
    count = 0
    for table in tables:
        while table.num_rows:
            part, table = table.slice(0, rows - count), table.slice(rows - count)
            pending.append(part)
            count += part.num_rows
            if count == rows:
                yield pa.concat_tables(pending)
                pending, count = [], 0
    if pending:
        yield pa.concat_tables(pending)


# ---------------------------------------------------------------------------
# GeoJSON and Open311
# ---------------------------------------------------------------------------

def _as_text(value: Any) -> str | None:
    """A JSON value as the text a CSV would hold; None for null or absent."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _geojson_table(document: Mapping[str, Any], path: Path) -> tuple[pa.Table, list]:
    features = document.get("features")
    if not isinstance(features, list):
        raise InputError(f"{path.name}: the FeatureCollection has no 'features' list",
                         field="features", fix="give the features as a JSON array")
    columns: dict[str, list] = {name: [] for name in _TEXT_FIELDS}
    pre_field, pre_reason = [], []
    for item in features:
        feature = item if isinstance(item, dict) else {}
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        for name in _TEXT_FIELDS:
            columns[name].append(_as_text(props.get(name)))
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        problem = None
        if not isinstance(item, dict) or feature.get("type") not in (None, "Feature"):
            problem = "the item is not a GeoJSON Feature; give {\"type\": \"Feature\", …}"
        elif geometry is None:
            if props.get("lon") is None or props.get("lat") is None:
                problem = ("the feature has no geometry; give a Point geometry "
                           "with coordinates [lon, lat]")
        elif not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
            problem = (f"the geometry is a {kind}, not a Point; give each incident as a Point "
                       "with coordinates [lon, lat]")
        elif not isinstance(coords, list) or len(coords) < 2:
            problem = (f"the Point's coordinates {coords!r} are not [lon, lat]; "
                       "give two numbers, longitude first")
        else:
            columns["lon"][-1], columns["lat"][-1] = _as_text(coords[0]), _as_text(coords[1])
        pre_field.append("geometry" if problem and isinstance(item, dict) else None)
        pre_reason.append(problem)
    table = _json_columns(columns, len(features))
    table = table.append_column("__pre_field", pa.array(pre_field, type=pa.string()))
    table = table.append_column("__pre_reason", pa.array(pre_reason, type=pa.string()))
    return table, features


def _open311_table(document: list, path: Path, *, codes: Mapping[str, str],
                   rules: Rules) -> tuple[pa.Table, list]:
    columns: dict[str, list] = {name: [] for name in _TEXT_FIELDS}
    notes, pre_reason = [], []
    lookup = {_code_key(k): v for k, v in codes.items()}
    resolved: dict[tuple[str, str], tuple[str, str | None]] = {}
    for item in document:
        request = item if isinstance(item, dict) else {}
        extended = request.get("extended_attributes")
        extended = extended if isinstance(extended, dict) else {}
        status = _as_text(extended.get("stage")) or _as_text(request.get("status"))
        try:
            closed = status_from_text(status) == "closed"
        except InputError:
            closed = False
        values = {
            "external_id": _as_text(request.get("service_request_id")),
            "status": status,
            "description": _as_text(request.get("description")),
            "address": _as_text(request.get("address")),
            "reported_at": _as_text(request.get("requested_datetime")),
            "closed_at": _as_text(request.get("updated_datetime")) if closed else None,
            "lon": _as_text(request.get("long")),
            "lat": _as_text(request.get("lat")),
        }
        code = (_as_text(request.get("service_code")) or "").strip()
        name = (_as_text(request.get("service_name")) or "").strip()
        if (code, name) not in resolved:
            resolved[code, name] = _open311_category(code, name, lookup, rules)
        values["category"], note = resolved[code, name]
        for column in _TEXT_FIELDS:
            columns[column].append(values.get(column))
        notes.append(note)
        pre_reason.append(None if isinstance(item, dict) else
                          f"the item is a JSON {type(item).__name__}, not a service request object")
    table = _json_columns(columns, len(document))
    table = table.append_column("__category_note", pa.array(notes, type=pa.string()))
    table = table.append_column("__pre_field", pa.nulls(len(document), pa.string()))
    table = table.append_column("__pre_reason", pa.array(pre_reason, type=pa.string()))
    return table, document


def _open311_category(code: str, name: str, lookup: Mapping[str, str],
                      rules: Rules) -> tuple[str, str | None]:
    """Our category for an Open311 service: code table, our own code, then the name."""
    if _code_key(code) in lookup:
        return lookup[_code_key(code)], None
    if code in rules.categories:
        return code, None
    if name:
        category, warning = category_from_text(name, rules=rules)
        if warning is None:
            return category, None
    return "other", (f"service_code {code!r} (service_name {name!r}) unknown, stored as 'other'; "
                     "add the code to gis/rules/open311.toml")


def _json_columns(columns: Mapping[str, list], n: int) -> pa.Table:
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    table = table.append_column("__rec", pa.array(np.arange(n, dtype=np.int64)))
    table = table.append_column("__line", pa.array(np.arange(1, n + 1, dtype=np.int64)))
    return table.append_column("__raw", pa.nulls(n, pa.string()))


def _code_key(code: str) -> str:
    return code.strip().casefold()


def load_open311_codes(path: str | os.PathLike | None = None, *,
                       rules: Rules | None = None) -> Mapping[str, str]:
    """Read the Open311 service-code table (``gis/rules/open311.toml``).

    Parameters
    ----------
    path
        A TOML file with ``version = 1`` and a ``[service_codes]`` table of
        service code → category code; None for the shipped table.
    rules
        Dispatch rules whose category codes the values must be; None for
        the shipped rules.

    Returns
    -------
    Mapping
        Service code → category code, in file order (the first code of a
        category is the one written on export).

    Raises
    ------
    InputError
        The file is missing or not TOML, or a value is not a category code
        (the message names the key).
    """
    rules = rules or load_rules()
    if path is None and rules is load_rules():
        return _default_open311_codes()
    return _read_open311_codes(Path(path) if path is not None else OPEN311_RULES_PATH, rules)


@functools.lru_cache(maxsize=1)
def _default_open311_codes() -> Mapping[str, str]:
    return _read_open311_codes(OPEN311_RULES_PATH, load_rules())


def _read_open311_codes(path: Path, rules: Rules) -> Mapping[str, str]:
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"Open311 code table {path} not found",
                         fix="give the path of an open311 .toml file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Open311 code table {path} is not valid UTF-8 TOML: {exc}",
                         fix="fix the syntax at the place named") from None
    table = doc.get("service_codes")
    if not isinstance(table, dict):
        raise InputError(f"Open311 code table {path} has no [service_codes] table",
                         field="service_codes", fix="add [service_codes] with code = \"category\" lines")
    seen: dict[str, str] = {}
    for code, category in table.items():
        if not isinstance(category, str) or category not in rules.categories:
            raise InputError(f"service_codes.{code} = {category!r} in {path} is not a category code",
                             field=f"service_codes.{code}",
                             fix="use one of " + ", ".join(rules.categories))
        if _code_key(code) in seen:
            raise InputError(f"service code {code!r} in {path} repeats {seen[_code_key(code)]!r} "
                             "(codes are compared ignoring case)", field=f"service_codes.{code}",
                             fix="keep one of them")
        seen[_code_key(code)] = code
    return MappingProxyType(dict(table))


# ---------------------------------------------------------------------------
# Duplicates
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Dedupe:
    """The (source, external_id) keys that occur more than once in a file.

    Found in a first pass; the second pass counts occurrences as it goes, so
    every occurrence but the last is superseded, wherever chunks begin.
    """

    counts: Mapping[str, int]
    keys: pa.Array


def _keys(table: pa.Table, source: str | None) -> pa.Array:
    """``source + '\\x1f' + external_id`` per row (trimmed); null when either is empty."""
    ids = pc.utf8_trim_whitespace(pc.fill_null(table.column("external_id"), ""))
    if source is not None:
        keys = pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)
    else:
        sources = pc.utf8_trim_whitespace(pc.fill_null(table.column("source"), ""))
        empty = pc.or_(pc.equal(ids, ""), pc.equal(sources, ""))
        keys = pc.if_else(empty, pa.scalar(None, pa.string()),
                          pc.binary_join_element_wise(sources, ids, "\x1f"))
    return keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys


def _repeated_keys(keys: pa.Array) -> _Dedupe | None:
    if len(keys) == 0:
        return None
    encoded = pc.dictionary_encode(keys)
    codes = _np(pc.fill_null(encoded.indices, -1)).astype(np.int64)
    counts = np.bincount(codes[codes >= 0], minlength=len(encoded.dictionary))
    repeated = np.flatnonzero(counts > 1)
    if not len(repeated):
        return None
    values = encoded.dictionary.take(pa.array(repeated))
    return _Dedupe(dict(zip(values.to_pylist(), counts[repeated].tolist())), values)


# ---------------------------------------------------------------------------
# Checking rows
# ---------------------------------------------------------------------------

@dataclass
class _State:
    """What checking needs across the chunks of one pass over a file."""

    rules: Rules
    crs: str
    source: str | None
    raw: Callable[[int, dict[str, Any]], str]
    skip_blank: bool
    dedupe: _Dedupe | None = None
    display: Mapping[str, str] = _SAME_NAMES
    file_warnings: list[str] = field(default_factory=list)
    statuses: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    categories: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    seen: dict[str, list[int]] = field(default_factory=dict)
    warned: dict[str, int] = field(default_factory=dict)

    @functools.cached_property
    def geographic(self) -> bool:
        if not self.crs.startswith("EPSG:"):
            return True
        return bool(pyproj.CRS.from_user_input(self.crs).is_geographic)

    def name(self, column: str) -> str:
        return self.display.get(column, column)


class _Findings:
    """Refusals and warnings gathered while checking one chunk."""

    def __init__(self, n: int) -> None:
        self.refused = np.zeros(n, dtype=bool)
        self.rejects: list[tuple[int, int, str | None, str]] = []  # (row, order, field, reason)
        self.warnings: list[tuple[int, str]] = []
        self.hidden: dict[str, list[int]] = {}
        self._order = 0

    def refuse(self, mask: np.ndarray, field_name: str | None,
               reason: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        self.refused[rows] = True
        self._order += 1
        self.rejects.extend((int(i), self._order, field_name, reason(int(i))) for i in rows)


def _trimmed(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.array([""] * table.num_rows, type=pa.string())
    return pc.utf8_trim_whitespace(pc.fill_null(table.column(name), "")).combine_chunks()


def _raw_column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    column = table.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _np(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _empty(text: pa.Array) -> np.ndarray:
    return _np(pc.equal(text, ""))


def _parse_numbers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float values, NaN where absent or bad; mask of non-empty text that is not a number)."""
    values = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        numbers = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.fill_null(pc.match_substring_regex(values, _NUMBER_RE), False)
        candidates = pc.if_else(ok, values, pa.scalar(None, pa.string()))
        try:
            numbers = pc.cast(candidates, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers = pa.array([_float_or_none(v) for v in candidates.to_pylist()], pa.float64())
    bad = _np(pc.and_(pc.is_valid(values), pc.is_null(numbers)))
    return _np(pc.fill_null(numbers, math.nan)).astype(float), bad


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _parse_times(text: pa.Array) -> np.ndarray:
    """ISO 8601 text to UTC ``datetime64[us]`` (NaT when empty or not ISO 8601).

    A time without a zone is China time (Asia/Shanghai). The usual forms
    (:data:`_ISO_NAIVE`, :data:`_ISO_AWARE`) are cast by pyarrow; the rest go
    through pandas' ISO 8601 parser, which reads those forms alike and a few
    more (``2025-3-1``, nanoseconds). A failed pyarrow cast is slow, so values
    are sorted by pattern first rather than cast on trial.
    """
    values = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    out = np.full(len(values), np.datetime64("NaT", "us"), dtype="datetime64[us]")
    left = np.flatnonzero(_np(pc.is_valid(values)))
    for pattern, aware in ((_ISO_NAIVE, False), (_ISO_AWARE, True)):
        if not len(left):
            return out
        subset = values if len(left) == len(values) else values.take(pa.array(left))
        match = _np(pc.fill_null(pc.match_substring_regex(subset, pattern), False))
        if match.any():
            out[left[match]] = _cast_times(subset if match.all() else subset.filter(match),
                                           aware=aware)
            left = left[~match]
    if len(left):
        subset = values.take(pa.array(left))
        zoned = _np(pc.fill_null(pc.match_substring_regex(
            pc.utf8_slice_codeunits(subset, 10), _ZONE_RE), False))
        for mask, aware in ((zoned, True), (~zoned, False)):
            if mask.any():
                out[left[mask]] = _cast_times(subset.filter(mask), aware=aware, arrow=False)
    return out


def _cast_times(values: pa.Array, *, aware: bool, arrow: bool = True) -> np.ndarray:
    """Non-null ISO 8601 texts, all with a zone (``aware``) or all without, to UTC.

    pyarrow first (with ``arrow``); pandas when it refuses (a day past the end
    of its month, say), NaT for what pandas cannot read either.
    """
    cast = None
    if arrow:
        try:
            cast = pc.cast(values, pa.timestamp("us", "UTC") if aware else pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if cast is not None:
        stamps = _np(pc.cast(cast, pa.int64())).astype("datetime64[us]")
        if aware:
            return stamps
        naive = pd.DatetimeIndex(stamps)
    else:
        texts = pd.Series(values.to_pylist(), dtype=object)
        try:
            naive = pd.DatetimeIndex(pd.to_datetime(texts, format="ISO8601", errors="coerce",
                                                    utc=aware))
        except (ValueError, TypeError):  # zones the pattern did not see: one by one
            return np.array([_one_time(v) for v in texts], dtype="datetime64[us]")
        if naive.tz is not None:
            return naive.tz_convert("UTC").tz_localize(None).as_unit("us").to_numpy()
    # China has kept UTC+8 without daylight saving since 1991; tz_localize also
    # gets the summer times of 1986-1991 right.
    local = naive.tz_localize(CHINA_TZ, ambiguous="NaT", nonexistent="shift_forward")
    return local.tz_convert("UTC").tz_localize(None).as_unit("us").to_numpy()


def _one_time(text: str) -> np.datetime64:
    try:
        stamp = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError):
        return np.datetime64("NaT", "us")
    if stamp is pd.NaT:
        return np.datetime64("NaT", "us")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(CHINA_TZ, ambiguous="NaT", nonexistent="shift_forward")
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None).as_unit("us"))


def _mapped(text: pa.Array, cache: dict, convert: Callable[[str], tuple]) -> tuple[pa.Array, list]:
    """Map each distinct value once: (dictionary-decoded results, per-row result tuples)."""
    encoded = pc.dictionary_encode(text)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    distinct = encoded.dictionary.to_pylist()
    results = []
    for value in distinct:
        if value not in cache:
            cache[value] = convert(value)
        results.append(cache[value])
    indices = _np(encoded.indices)
    return indices, results


def _status_of(text: str) -> tuple[str | None, str | None]:
    try:
        return status_from_text(text), None
    except InputError as exc:
        if not text:
            return None, f"status is empty; {exc.fix}"
        return None, str(exc)


def _num(value: float) -> str:
    return repr(float(value))


_HIDDEN_WARNINGS = {
    "category": "with an unknown category, stored as 'other'",
    "duplicate": "with a repeated external_id (the last one kept)",
}


def _check(table: pa.Table, st: _State) -> Chunk:
    """Check one chunk of rows; see :class:`Chunk` for what comes out."""
    n = table.num_rows
    lines = _np(table.column("__line").combine_chunks()).astype(np.int64)
    recs = _np(table.column("__rec").combine_chunks()).astype(np.int64)
    found = _Findings(n)
    text = {name: _trimmed(table, name) for name in _VALUE_FIELDS + ("category",)}
    empty = {name: _empty(text[name]) for name in text}

    # Blank lines are skipped without a word.
    skip = np.zeros(n, dtype=bool)
    if st.skip_blank:
        candidates = np.flatnonzero(np.logical_and.reduce(list(empty.values())))
        if len(candidates):
            rows = table.take(pa.array(candidates)).to_pylist()
            skip[candidates] = [all(not str(v or "").strip() for k, v in row.items()
                                    if not k.startswith("__") or k.startswith("__col"))
                                for row in rows]

    # Of rows sharing (source, external_id), all but the last are superseded.
    superseded = np.zeros(n, dtype=bool)
    last_of_many = []
    if st.dedupe is not None:
        keys = _keys(table, st.source)
        hits = np.flatnonzero(_np(pc.fill_null(pc.is_in(keys, value_set=st.dedupe.keys), False)))
        hit_keys = keys.take(pa.array(hits)).to_pylist() if len(hits) else []
        for i, key in zip(hits, hit_keys):
            where = st.seen.setdefault(key, [])
            where.append(int(lines[i]))
            if len(where) < st.dedupe.counts[key]:
                superseded[i] = True
            else:
                last_of_many.append((int(i), st.seen.pop(key)))
    active = ~skip & ~superseded

    # Whole-row problems found while reading (a CSV row with extra fields, a
    # feature without a Point) refuse the row; a geometry problem still lets
    # the other fields be checked.
    pre_reason = _raw_column(table, "__pre_reason")
    has_pre = _np(pc.is_valid(pre_reason)) & active
    pre_coord = np.zeros(n, dtype=bool)
    if has_pre.any():
        rows = np.flatnonzero(has_pre)
        fields = _picked(_raw_column(table, "__pre_field"), rows)
        reasons = _picked(pre_reason, rows)
        for i in rows:
            found.refused[i] = True
            found.rejects.append((int(i), 0, fields[i], reasons[i]))
            pre_coord[i] = fields[i] in _COORD_FIELDS
    check = active & ~(has_pre & ~pre_coord)
    check_coords = check & ~pre_coord

    # source and external_id
    if st.source is None:
        found.refuse(check & empty["source"], "source",
                     lambda i: "source is empty; fill the source column or pass --source")
    id_name = st.name("external_id")
    found.refuse(check & empty["external_id"], id_name, lambda i: f"{id_name} is empty")

    # coordinates
    numbers = {}
    for name in ("lon", "lat"):
        value, bad = _parse_numbers(text[name])
        numbers[name] = value
        shown = st.name(name)
        found.refuse(check_coords & empty[name], shown, lambda i, s=shown: f"{s} is empty")
        bad &= check_coords
        if bad.any():
            given = _picked(text[name], np.flatnonzero(bad))
            found.refuse(bad, shown, lambda i, s=shown, g=given: f"{s} {g[i]!r} is not a number")
        nonfinite = check_coords & ~empty[name] & ~bad & ~np.isfinite(value)
        found.refuse(nonfinite, shown,
                     lambda i, s=shown, v=value: f"{s} {_num(v[i])} is not a finite number")
    lon_in, lat_in = numbers["lon"], numbers["lat"]
    lon_out, lat_out = _check_points(st, found, check_coords, lon_in, lat_in)

    # times
    shown = st.name("reported_at")
    reported = _parse_times(text["reported_at"])
    found.refuse(check & empty["reported_at"], shown,
                 lambda i: f"{shown} is empty; give the time reported (e.g. {_EXAMPLE_TIME})")
    bad_time = check & ~empty["reported_at"] & np.isnat(reported)
    if bad_time.any():
        given = _picked(text["reported_at"], np.flatnonzero(bad_time))
        found.refuse(bad_time, shown, lambda i: f"{shown} {given[i]!r} is not an ISO 8601 time "
                                                f"(e.g. {_EXAMPLE_TIME})")
    closed = np.full(n, np.datetime64("NaT", "us"), dtype="datetime64[us]")
    if "closed_at" in table.column_names:
        shown_closed = st.name("closed_at")
        closed_text = _trimmed(table, "closed_at")
        closed = _parse_times(closed_text)
        bad_closed = check & ~_empty(closed_text) & np.isnat(closed)
        if bad_closed.any():
            given_closed = _picked(closed_text, np.flatnonzero(bad_closed))
            found.refuse(bad_closed, shown_closed,
                         lambda i: f"{shown_closed} {given_closed[i]!r} is not an ISO 8601 time "
                                   f"(e.g. {_EXAMPLE_TIME}); leave it empty when not closed")
        early = check & ~np.isnat(closed) & ~np.isnat(reported)
        early[early] = closed[early] < reported[early]
        found.refuse(early, shown_closed,
                     lambda i: f"{shown_closed} {_iso_china_one(closed[i])} is before {shown} "
                               f"{_iso_china_one(reported[i])}; check both times")

    # status
    status_indices, status_results = _mapped(text["status"], st.statuses, _status_of)
    status_errors = np.array([error is not None for _, error in status_results], dtype=bool)
    if status_errors.any():
        found.refuse(check & status_errors[status_indices], "status",
                     lambda i: status_results[status_indices[i]][1])
    status_codes = [code or "" for code, _ in status_results]

    good = active & ~found.refused

    # category: never refused; unknown → other, with a warning on good rows
    cat_indices, cat_results = _mapped(
        text["category"], st.categories, lambda value: category_from_text(value, rules=st.rules))
    category_codes = [code for code, _ in cat_results]
    if "__category_note" in table.column_names:
        notes = _raw_column(table, "__category_note")
        noted = np.flatnonzero(good & _np(pc.is_valid(notes)))
        if len(noted):
            note_texts = _picked(notes, noted[:_WARNINGS_PER_KIND])
            _warn(st, found, "category", lines, noted,
                  lambda i: f"line {lines[i]}: {note_texts[i]}")
    else:
        unknown = np.array([w is not None for _, w in cat_results], dtype=bool)
        if unknown.any():
            rows = np.flatnonzero(good & unknown[cat_indices])
            if len(rows):
                given = _picked(text["category"], rows[:_WARNINGS_PER_KIND])
                _warn(st, found, "category", lines, rows,
                      lambda i: f"line {lines[i]}: "
                                + (f"category {given[i]!r} unknown" if given[i]
                                   else "category is empty") + ", stored as 'other'")

    # duplicates: one warning at the occurrence that is kept
    if last_of_many:
        rows = np.array([i for i, _ in last_of_many], dtype=np.int64)
        earlier = dict(last_of_many)
        ids = _picked(text["external_id"], rows[:_WARNINGS_PER_KIND])

        def duplicate(i: int) -> str:
            where = earlier[i]
            listed = ", ".join(map(str, where[:-1])) + f" and {where[-1]}"
            message = f"{id_name} {ids[i]!r} appears on lines {listed}; the last one is kept"
            if not good[i]:
                message += f", but line {where[-1]} is refused (see the rejects)"
            return message

        _warn(st, found, "duplicate", lines, rows, duplicate)

    incidents = _frame(table, st, good, lines, text, lon_in, lat_in, lon_out, lat_out,
                       reported, closed, status_indices, status_codes, cat_indices,
                       category_codes)
    rejects = _rejects_frame(table, st, found, lines, recs)
    return Chunk(incidents, rejects, _warnings_text(found), n)


def _check_points(st: _State, found: _Findings, check: np.ndarray, lon_in: np.ndarray,
                  lat_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Refuse impossible points and convert the others to WGS-84 (lon, lat in degrees)."""
    has_lon, has_lat = check & np.isfinite(lon_in), check & np.isfinite(lat_in)
    point = has_lon & has_lat
    lon_name, lat_name = st.name("lon"), st.name("lat")
    both = f"{lon_name}/{lat_name}"
    lon_out, lat_out = lon_in.copy(), lat_in.copy()
    with np.errstate(invalid="ignore"):
        if st.geographic:
            swapped = (point & (lon_in >= _SWAPPED_LON[0]) & (lon_in <= _SWAPPED_LON[1])
                       & (lat_in >= _SWAPPED_LAT[0]) & (lat_in <= _SWAPPED_LAT[1]))
            bad_lon = has_lon & ~swapped & (np.abs(lon_in) > 180.0)
            bad_lat = has_lat & ~swapped & (np.abs(lat_in) > 90.0)
            found.refuse(swapped, both,
                         lambda i: f"{both} look swapped ({lon_name} {_num(lon_in[i])}, "
                                   f"{lat_name} {_num(lat_in[i])}): put longitude first")
            found.refuse(bad_lon, lon_name,
                         lambda i: f"{lon_name} {_num(lon_in[i])} is outside -180..180; "
                                   f"check the column order {lon_name},{lat_name} and --crs")
            found.refuse(bad_lat, lat_name,
                         lambda i: f"{lat_name} {_num(lat_in[i])} is outside -90..90; "
                                   f"check the column order {lon_name},{lat_name}")
            usable = point & ~swapped & ~bad_lon & ~bad_lat
            if st.crs in ("gcj02", "bd09"):
                # GCJ-02 and BD-09 are defined for China only (GB 20263).
                abroad = usable & out_of_china(lon_in, lat_in)
                found.refuse(abroad, both,
                             lambda i: f"point ({_num(lon_in[i])}, {_num(lat_in[i])}) is outside "
                                       f"China, where {st.crs} does not apply; check --crs")
                usable &= ~abroad
            if st.crs != "wgs84" and usable.any():
                lon_out[usable], lat_out[usable] = to_wgs84(lon_in[usable], lat_in[usable],
                                                            crs=st.crs)
        else:
            if point.any():
                lon_out[point], lat_out[point] = to_wgs84(lon_in[point], lat_in[point], crs=st.crs)
            lost = point & ~(np.isfinite(lon_out) & np.isfinite(lat_out))
            off_earth = point & ~lost & ((np.abs(lon_out) > 180.0) | (np.abs(lat_out) > 90.0))
            found.refuse(lost, both,
                         lambda i: f"point ({_num(lon_in[i])}, {_num(lat_in[i])}) cannot be "
                                   f"converted from {st.crs} to WGS-84; check --crs and the "
                                   "column order")
            found.refuse(off_earth, both,
                         lambda i: f"point ({_num(lon_in[i])}, {_num(lat_in[i])}) in {st.crs} is "
                                   f"lon {_num(lon_out[i])}, lat {_num(lat_out[i])}, off the "
                                   "Earth; check --crs and the column order")
    return lon_out, lat_out


def _picked(array: pa.Array, rows: np.ndarray) -> dict[int, Any]:
    """Python values of some rows of an array, by row."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return {}
    return dict(zip(rows.tolist(), array.take(pa.array(rows)).to_pylist()))


def _warn(st: _State, found: _Findings, kind: str, lines: np.ndarray, rows: np.ndarray,
          message: Callable[[int], str]) -> None:
    """Warn about rows; past the first few of a kind in a file, only count them."""
    done = st.warned.get(kind, 0)
    room = max(0, _WARNINGS_PER_KIND - done)
    for i in rows[:room]:
        found.warnings.append((int(lines[i]), message(int(i))))
    if len(rows) > room:
        found.hidden.setdefault(kind, []).extend(lines[rows[room:]].tolist())
    st.warned[kind] = done + len(rows)


def _warnings_text(found: _Findings) -> list[str]:
    out = [text for _, text in sorted(found.warnings, key=lambda item: item[0])]
    for kind, lines in found.hidden.items():
        out.append(f"{len(lines):,} more lines {_HIDDEN_WARNINGS[kind]}, between lines "
                   f"{min(lines)} and {max(lines)} (not listed one by one)")
    return out


def _frame(table, st, good, lines, text, lon_in, lat_in, lon_out, lat_out, reported, closed,
           status_indices, status_codes, cat_indices, category_codes) -> pd.DataFrame:
    rows = np.flatnonzero(good)
    k = len(rows)
    if k == 0:
        return _empty_incidents()
    take = pa.array(rows)

    def strings(array: pa.Array) -> pd.Series:
        return pd.Series(array.take(take).to_pandas(), dtype="str").reset_index(drop=True)

    def constant(value: str) -> pd.Series:
        repeated = pa.DictionaryArray.from_arrays(pa.array(np.zeros(k, dtype=np.int32)),
                                                  pa.array([value], type=pa.string()))
        return pd.Series(pc.cast(repeated, pa.string()).to_pandas(), dtype="str")

    def coded(indices: np.ndarray, codes: list) -> pd.Series:
        dictionary = pa.array(codes, type=pa.string())
        array = pa.DictionaryArray.from_arrays(pa.array(indices[rows].astype(np.int32)), dictionary)
        return pd.Series(pc.cast(array, pa.string()).to_pandas(), dtype="str")

    def optional(name: str) -> pd.Series:
        raw = _raw_column(table, name)
        return strings(pc.if_else(pc.equal(pc.fill_null(raw, ""), ""),
                                  pa.scalar(None, pa.string()), raw))

    def given(name: str) -> pd.Series:
        return strings(pc.fill_null(_raw_column(table, name), ""))

    def utc(stamps: np.ndarray) -> pd.Series:
        return pd.Series(pd.DatetimeIndex(stamps[rows]).tz_localize("UTC"))

    frame = pd.DataFrame({
        "line": lines[rows],
        "source": constant(st.source) if st.source is not None else strings(text["source"]),
        "external_id": strings(text["external_id"]),
        "category": coded(cat_indices, category_codes),
        "status": coded(status_indices, list(status_codes)),
        "priority": optional("priority"),
        "description": given("description"),
        "address": given("address"),
        "reporter_phone": optional("reporter_phone"),
        "reported_at": utc(reported),
        "closed_at": utc(closed),
        "lon": lon_out[rows],
        "lat": lat_out[rows],
        "input_crs": constant(st.crs),
        "input_lon": lon_in[rows],
        "input_lat": lat_in[rows],
    })
    return frame[list(INCIDENT_COLUMNS)]


def _rejects_frame(table, st, found, lines, recs) -> pd.DataFrame:
    if not found.rejects:
        return _empty_rejects()
    found.rejects.sort(key=lambda r: (lines[r[0]], r[1]))
    rows = sorted({r[0] for r in found.rejects})
    records = dict(zip(rows, table.take(pa.array(rows)).to_pylist()))
    raw_cache = {i: st.raw(int(recs[i]), records[i]) for i in rows}
    return pd.DataFrame({
        "line": np.array([lines[i] for i, _, _, _ in found.rejects], dtype=np.int64),
        "field": pd.Series([f for _, _, f, _ in found.rejects], dtype="str"),
        "reason": pd.Series([r for _, _, _, r in found.rejects], dtype="str"),
        "raw": pd.Series([raw_cache[i] for i, _, _, _ in found.rejects], dtype="str"),
    })


def _empty_incidents() -> pd.DataFrame:
    return pd.DataFrame({
        "line": pd.Series([], dtype=np.int64),
        **{name: pd.Series([], dtype="str") for name in
           ("source", "external_id", "category", "status", "priority", "description",
            "address", "reporter_phone")},
        "reported_at": pd.Series([], dtype="datetime64[us, UTC]"),
        "closed_at": pd.Series([], dtype="datetime64[us, UTC]"),
        "lon": pd.Series([], dtype=float), "lat": pd.Series([], dtype=float),
        "input_crs": pd.Series([], dtype="str"),
        "input_lon": pd.Series([], dtype=float), "input_lat": pd.Series([], dtype=float),
    })[list(INCIDENT_COLUMNS)]


def _empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({"line": pd.Series([], dtype=np.int64),
                         **{name: pd.Series([], dtype="str") for name in ("field", "reason", "raw")}})


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _iso_china_one(stamp: np.datetime64) -> str:
    return pd.Timestamp(stamp).tz_localize("UTC").tz_convert(CHINA_TZ).isoformat()


def _china_times(values: pd.Series) -> pd.Series | None:
    """A column of times as China time (tz-aware), or None when it holds no times."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(CHINA_TZ)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize(CHINA_TZ, ambiguous="NaT", nonexistent="shift_forward")
    if values.dtype == object:
        present = values.dropna()
        if len(present) and all(isinstance(v, (pd.Timestamp, np.datetime64)) or
                                hasattr(v, "utcoffset") and hasattr(v, "hour")
                                for v in present):
            def china(v):
                if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
                    return pd.NaT
                stamp = pd.Timestamp(v)
                if stamp.tzinfo is None:
                    return stamp.tz_localize(CHINA_TZ)
                return stamp.tz_convert(CHINA_TZ)
            return pd.Series([china(v) for v in values], index=values.index,
                             dtype=f"datetime64[us, {CHINA_TZ.key}]")
    return None


def _iso_texts(values: pd.Series) -> pd.Series:
    """Times as ISO 8601 text with the China offset (+08:00); missing stays missing."""
    times = _china_times(values)
    if times is None:
        return values
    fraction = ".%f" if ((times.dt.microsecond.fillna(0) != 0).any()) else ""
    texts = times.dt.strftime(f"%Y-%m-%dT%H:%M:%S{fraction}%z")
    texts = texts.str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
    return texts.astype(object).where(times.notna(), None)


_EXPORT_NEEDED = ("source", "external_id", "category", "status", "lon", "lat", "reported_at")


def _export_frame(incidents: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _EXPORT_NEEDED if c not in incidents.columns]
    if missing:
        raise InputError(f"the incident frame lacks column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}",
                         fix="pass the frame from read_incidents or from the database")
    frame = incidents.reset_index(drop=True).copy()
    for name in ("description", "micro_code", "exclusive_code"):
        if name not in frame.columns:
            frame[name] = ""
    order = list(EXPORT_COLUMNS) + [c for c in frame.columns if c not in EXPORT_COLUMNS]
    frame = frame[order]
    for name in frame.columns:
        frame[name] = _iso_texts(frame[name])
    return frame


def incidents_to_csv(incidents: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write incidents as CSV: the export columns, then any other columns of the frame.

    Parameters
    ----------
    incidents
        Frame with at least ``source, external_id, category, status, lon,
        lat, reported_at`` (lon/lat in degrees, WGS-84); ``description``,
        ``micro_code``, ``exclusive_code`` are written empty when absent.
        Extra columns (``tier``, ``due_at``, ``assignee``, ``closed_at``,
        ``address`` …) follow :data:`EXPORT_COLUMNS` in frame order.
    path
        The file to write. UTF-8 with a BOM, so Excel shows Chinese text;
        times ISO 8601 with +08:00 (naive times are taken as China time).

    Returns
    -------
    int
        Rows written.
    """
    frame = _export_frame(incidents)
    frame.to_csv(Path(path), index=False, encoding="utf-8-sig", lineterminator="\n")
    return len(frame)


def incidents_to_geojson(incidents: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write incidents as a GeoJSON FeatureCollection of Points (RFC 7946, WGS-84).

    Parameters
    ----------
    incidents
        As for :func:`incidents_to_csv`. ``lon``, ``lat`` (degrees, WGS-84)
        become the Point geometry (null when missing); every other export
        column becomes a property, times as ISO 8601 text with +08:00.
    path
        The file to write (UTF-8).

    Returns
    -------
    int
        Features written.
    """
    frame = _export_frame(incidents)
    lon = pd.to_numeric(frame["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(frame["lat"], errors="coerce").to_numpy(dtype=float)
    props = frame.drop(columns=["lon", "lat"])
    records = _json_records(props)
    features = []
    for x, y, properties in zip(lon, lat, records):
        geometry = ({"type": "Point", "coordinates": [float(x), float(y)]}
                    if math.isfinite(x) and math.isfinite(y) else None)
        features.append({"type": "Feature", "geometry": geometry, "properties": properties})
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump({"type": "FeatureCollection", "features": features}, handle,
                  ensure_ascii=False, allow_nan=False)
    return len(features)


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN/NA → None, numpy scalars → Python."""
    columns = {}
    for name in frame.columns:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        columns[name] = [v.item() if isinstance(v, np.generic) else v for v in values]
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*columns.values())] if names else \
        [{} for _ in range(len(frame))]


def incidents_to_open311(incidents: pd.DataFrame, *, rules: Rules | None = None,
                         service_codes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Incidents as Open311 GeoReport v2 service requests (``GET /requests.json``).

    Parameters
    ----------
    incidents
        As for :func:`incidents_to_csv` (lon/lat in degrees, WGS-84);
        ``due_at``, ``closed_at``, ``updated_at``, ``tier``, ``micro_code``,
        ``address``, ``description`` are used when present.
    rules
        Dispatch rules for category and stage names; None for the shipped rules.
    service_codes
        Open311 service code → category code; None for ``gis/rules/open311.toml``.

    Returns
    -------
    list of dict
        One request each: ``service_request_id`` (external_id),
        ``service_code`` (the first code of the table that maps to the
        category, else the category code), ``service_name`` (the category's
        Chinese name), ``status`` (``closed`` for resolved, verified and
        closed cases, else ``open``), ``description``, ``requested_datetime``
        (reported_at), ``updated_datetime`` (updated_at, else closed_at),
        ``expected_datetime`` (due_at), ``address``, ``lat``, ``long``, and
        ``extended_attributes`` ``{stage, stage_zh, micro_code, tier,
        due_at}``. Times ISO 8601 with +08:00; missing values are None.
    """
    rules = rules or load_rules()
    codes = service_codes if service_codes is not None else load_open311_codes(rules=rules)
    reverse: dict[str, str] = {}
    for code, category in codes.items():
        reverse.setdefault(category, code)
    frame = _export_frame(incidents)
    for name in ("address", "due_at", "closed_at", "updated_at", "tier", "micro_code"):
        if name not in frame.columns:
            frame[name] = None
    records = _json_records(frame)
    out = []
    for row in records:
        category = row["category"]
        stage = row["status"]
        try:
            finished = not is_open(stage)
            stage_zh = STATUS_NAMES_ZH[status_from_text(stage)]
        except InputError:
            finished, stage_zh = False, None
        known = rules.categories.get(category)
        out.append({
            "service_request_id": row["external_id"],
            "service_code": reverse.get(category, category),
            "service_name": known.name_zh if known else category,
            "status": "closed" if finished else "open",
            "description": row["description"] if row["description"] is not None else "",
            "requested_datetime": row["reported_at"],
            "updated_datetime": (row["updated_at"] if row["updated_at"] is not None
                                 else row["closed_at"]),
            "expected_datetime": row["due_at"],
            "address": row["address"] if row["address"] is not None else "",
            "lat": row["lat"],
            "long": row["lon"],
            "extended_attributes": {
                "stage": stage,
                "stage_zh": stage_zh,
                "micro_code": row["micro_code"] or None,
                "tier": row["tier"],
                "due_at": row["due_at"],
            },
        })
    return out


def write_open311(incidents: pd.DataFrame, path: str | os.PathLike, *,
                  rules: Rules | None = None,
                  service_codes: Mapping[str, str] | None = None) -> int:
    """Write :func:`incidents_to_open311` as a JSON array (UTF-8); returns the count."""
    requests = incidents_to_open311(incidents, rules=rules, service_codes=service_codes)
    with Path(path).open("w", encoding="utf-8") as handle:
        json.dump(requests, handle, ensure_ascii=False, allow_nan=False)
    return len(requests)


def rejects_to_csv(rejects: pd.DataFrame, path: str | os.PathLike) -> int:
    """Write refused rows as CSV ``line, field, reason, raw`` (UTF-8 with BOM, for Excel).

    Parameters
    ----------
    rejects
        Frame with columns :data:`REJECT_COLUMNS`, e.g. the concatenated
        :attr:`Chunk.rejects`.
    path
        The file to write.

    Returns
    -------
    int
        Rows written.
    """
    missing = [c for c in REJECT_COLUMNS if c not in rejects.columns]
    if missing:
        raise InputError(f"the rejects frame lacks column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", fix="pass Chunk.rejects from read_incidents")
    rejects[list(REJECT_COLUMNS)].to_csv(Path(path), index=False, encoding="utf-8-sig",
                                         lineterminator="\n")
    return len(rejects)


# ---------------------------------------------------------------------------
# Benchmark (run by hand: python -m gis.incidents [rows])
# ---------------------------------------------------------------------------

def _bench(rows: int = 1_000_000, *, folder: str | os.PathLike | None = None) -> dict[str, float]:
    """Generate a CSV of ``rows`` incidents and time reading it in a fresh process.

    Prints and returns rows/s (wall and CPU) and the reading process's peak
    resident memory in MB. The file has Chinese text, multi-line quoted
    descriptions, mixed time zones, unknown categories, bad rows and
    duplicates, so every path is exercised.
    """
    import shutil
    import subprocess
    import sys

    own_folder = folder is None
    folder = Path(tempfile.mkdtemp(prefix="incidents-bench-") if own_folder else folder)
    path = folder / f"incidents_{rows}.csv"
    try:
        if not path.exists():
            _bench_file(path, rows)
        code = ("import json; from gis.incidents import _bench_read; "
                f"print(json.dumps(_bench_read({str(path)!r})))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).resolve().parent.parent)
        size_mb = path.stat().st_size / 1e6
    finally:
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"{rows:,} rows ({size_mb:.0f} MB): "
          f"{figures['rows_per_s_wall']:,.0f} rows/s wall, "
          f"{figures['rows_per_s_cpu']:,.0f} rows/s CPU, "
          f"peak memory {figures['peak_mb']:.0f} MB; "
          f"{figures['good']:,} kept, {figures['refused_lines']:,} refused lines, "
          f"{figures['warnings']:,} warnings")
    return figures


def _bench_file(path: Path, rows: int, *, block: int = 100_000) -> None:
    rng = np.random.default_rng(7)
    categories = np.array(["暴露垃圾", "乱停车", "env.dirty_road", "占道经营", "井盖", "其他",
                           "小广告", "井盖坏了"])
    statuses = np.array(["received", "dispatched", "closed", "处置", "open"])
    descriptions = np.array(["绿地东侧人行道上有暴露垃圾，请尽快处理", 'He said "now", then left',
                             "第一行\n第二行", "<script>alert(1)</script>", "'; DROP TABLE incident; --"])
    start = np.datetime64("2025-01-01T00:00:00")
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(REQUIRED_FIELDS) + "\n")
        for first in range(0, rows, block):
            k = min(block, rows - first)
            ids = np.arange(first, first + k)
            stamps = (start + rng.integers(0, 365 * 86400, k).astype("timedelta64[s]")).astype(str)
            stamps = np.where(rng.random(k) < 0.5, np.char.add(stamps, "+08:00"), stamps)
            lat = np.round(34.7 + rng.random(k) * 0.1, 6).astype(object)
            lat[rng.random(k) < 0.001] = "abc"
            frame = pd.DataFrame({
                "source": "12345",
                "external_id": np.char.add("E", (ids % (rows - 1000) if rows > 2000 else ids).astype(str)),
                "category": categories[rng.integers(0, len(categories), k)],
                "lon": np.round(113.6 + rng.random(k) * 0.1, 6),
                "lat": lat,
                "reported_at": stamps,
                "status": statuses[rng.integers(0, len(statuses), k)],
                "description": descriptions[rng.integers(0, len(descriptions), k)],
                "address": "郑州市中原区建设路街道桐柏路128号",
            })
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")


def _bench_read(path: str) -> dict[str, float]:
    import resource
    import time

    wall, cpu = time.perf_counter(), time.process_time()
    good = refused = warnings = rows = 0
    for chunk in read_incidents(path):
        good += len(chunk.incidents)
        refused += chunk.refused
        warnings += len(chunk.warnings)
        rows += chunk.records
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": rows, "good": good, "refused_lines": refused, "warnings": warnings,
            "seconds_wall": wall, "seconds_cpu": cpu,
            "rows_per_s_wall": rows / wall, "rows_per_s_cpu": rows / cpu,
            "peak_mb": peak_kb / 1024}


if __name__ == "__main__":  # pragma: no cover
    import sys

    _bench(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
