"""Opening an incident file (CSV, GeoJSON, Open311) and reading it in checked chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from gis.core.crs import parse_crs
from gis.core.intake.checks import (
    _SAME_NAMES,
    _TEXT_FIELDS,
    Chunk,
    _as_text,
    _check,
    _concat,
    _empty_incidents,
    _empty_rejects,
    _keys,
    _repeated_keys,
    _State,
)
from gis.core.intake.csv import _CsvFile, _rechunk
from gis.core.intake.encoding import detect_encoding
from gis.core.intake.geojson import _geojson_table, _json_columns
from gis.core.intake.open311 import _OPEN311_DISPLAY, _open311_table, load_open311_codes
from gis.core.rules.config import Rules, load_rules
from gis.errors import InputError


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
        ``gis/core/rules/open311.toml``.

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


def _json_int(text: str) -> int | str:
    """A JSON integer; one too long for Python to convert (over 4,300 digits) stays text,
    for the row checks to refuse (an id that long, a coordinate that large)."""
    try:
        return int(text)
    except ValueError:
        return text


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
            document = json.load(handle, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}", fix="fix the JSON at the place named") from None
    except UnicodeDecodeError as exc:
        # detect_encoding tells GB18030 by a sample; a bad byte past it shows here
        raise InputError(f"{path.name} is neither UTF-8 nor GB18030 (byte "
                         f"0x{exc.object[exc.start:exc.start + 1].hex()} that {encoding} cannot "
                         "decode)", fix="save it as UTF-8 text") from None
    except RecursionError:
        # Python's JSON reader recurses once per level: a hostile document of deep brackets
        raise InputError(f"{path.name} nests arrays or objects too deeply to read",
                         fix="a FeatureCollection or an Open311 list needs a few levels; flatten the "
                             "properties") from None
    if isinstance(document, dict) and document.get("type") == "FeatureCollection":
        return "geojson", encoding, document
    if isinstance(document, list) and suffix == ".json":
        return "open311", encoding, document
    kind = document.get("type") if isinstance(document, dict) else type(document).__name__
    raise InputError(f"{path.name} is neither a GeoJSON FeatureCollection nor an Open311 list "
                     f"of service requests (found {kind!r})",
                     fix="give a FeatureCollection of Point features, or the array that "
                         "GET /requests.json returns (as a .json file)")
