"""The row checks of intake: every row kept or refused with a reason naming the
value and the fix; vectorised with pyarrow, numpy and pandas."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj

from gis.core.china_time import CHINA_TZ
from gis.core.crs import out_of_china, to_wgs84
from gis.core.rules.config import Rules, category_from_text
from gis.core.rules.lifecycle import status_from_text
from gis.errors import InputError

#: Columns an incident CSV must have (``source`` may come from the ``source``
#: option instead). Of these, ``source``, ``external_id``, ``lon``, ``lat``,
#: ``reported_at`` and ``status`` must also have a value on every row, but for
#: ``lon`` and ``lat`` both empty with an ``address``: an address-only case, kept with
#: NaN coordinates and placed by the address register on import.
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

#: The shipped Open311 service-code table.
OPEN311_RULES_PATH = Path(__file__).resolve().parent.parent / "rules" / "open311.toml"

# Fields that must have a value on every row (the rest may be empty).
_VALUE_FIELDS = ("source", "external_id", "lon", "lat", "reported_at", "status")
_TEXT_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
_KEY_FIELDS = ("source", "external_id")

#: Longest ``source`` or ``external_id`` kept, in characters (a key must fit the unique index).
MAX_KEY_CHARS = 200
#: Largest other text field kept, in UTF-8 bytes: a description of a case, not a document.
MAX_FIELD_BYTES = 65_536

#: A kept point farther than this from every micro-grid, in metres, is warned about and gets
#: no nearest-grid suggestion: a district's grids span a few kilometres, so such a point is a
#: wrong coordinate (0,0, swapped digits, another CRS), not a case just outside the boundary.
FAR_POINT_M = 50_000.0
#: A kept ``reported_at`` later than the import's own time by more than this, in hours, is
#: warned about: the reporting systems' clocks may run a little ahead, a wrong year or zone not.
FUTURE_TOLERANCE_H = 24
# Line numbers a plausibility warning lists before it only counts.
_LINES_LISTED = 10

# Columns our own exports add; a CSV carrying them is read without a warning.
_KNOWN_EXTRA_COLUMNS = frozenset({
    "line", "input_crs", "input_lon", "input_lat", "micro_code", "exclusive_code",
    "tier", "due_at", "assignee", "handler", "updated_at", "created_at", "id",
    "suggested_code", "suggested_distance_m", "grid_version_id", "batch_id",
})

_EXAMPLE_TIME = "2025-03-01T08:30:00+08:00"
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
        rules); ``status`` (a stage code of :data:`gis.core.rules.lifecycle.STATUSES`);
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
        as read: CSV text, or the JSON of the feature; of a CSV row too long
        for the reader or with a quote never closed, its first 64 KB up to the
        quote's line, ``line`` being where the row starts). One row per
        problem: :attr:`refused` counts the rows.
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


# ---------------------------------------------------------------------------
# JSON values as text
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


def _key_too_long(shown: str, chars: int) -> str:
    """Why a ``source`` or ``external_id`` of ``chars`` characters is refused."""
    return f"{shown} is {chars} characters long; a key may have at most {MAX_KEY_CHARS}"


def _field_too_large(shown: str, size_bytes: int) -> str:
    """Why a text field of ``size_bytes`` UTF-8 bytes is refused."""
    return (f"{shown} is {size_bytes} bytes; a field may have at most {MAX_FIELD_BYTES} bytes "
            "(64 KB): shorten it")


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

    # Blank lines are skipped without a word (not a row the reader refused, which may have no values).
    pre_reason = _raw_column(table, "__pre_reason")
    skip = np.zeros(n, dtype=bool)
    if st.skip_blank:
        candidates = np.flatnonzero(np.logical_and.reduce(list(empty.values()))
                                    & _np(pc.is_null(pre_reason)))
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

    # Whole-row problems found while reading (a CSV row with extra fields or a
    # quote never closed, a feature without a Point) refuse the row; a GeoJSON
    # geometry problem still lets the other fields be checked.
    has_pre = _np(pc.is_valid(pre_reason)) & active
    pre_coord = np.zeros(n, dtype=bool)
    if has_pre.any():
        rows = np.flatnonzero(has_pre)
        fields = _picked(_raw_column(table, "__pre_field"), rows)
        reasons = _picked(pre_reason, rows)
        for i in rows:
            found.refused[i] = True
            found.rejects.append((int(i), 0, None if fields[i] is None else st.name(fields[i]),
                                  reasons[i]))
            pre_coord[i] = fields[i] == "geometry"
    check = active & ~(has_pre & ~pre_coord)
    check_coords = check & ~pre_coord

    # source and external_id
    if st.source is None:
        found.refuse(check & empty["source"], "source",
                     lambda i: "source is empty; fill the source column or pass --source")
    id_name = st.name("external_id")
    found.refuse(check & empty["external_id"], id_name, lambda i: f"{id_name} is empty")

    # text the database cannot take: a NUL byte (PostgreSQL text has none), a key longer
    # than its index allows, a field larger than a case's text needs
    for name in _TEXT_FIELDS:
        if name not in table.column_names or name in _COORD_FIELDS:
            continue
        raw = pc.fill_null(_raw_column(table, name), "")
        shown = st.name(name)
        nul = check & _np(pc.match_substring(raw, "\x00"))
        found.refuse(nul, shown, lambda i, s=shown: f"{s} holds a NUL byte (\\x00), which no text field may "
                                                     f"hold; remove it from the file")
        if name in _KEY_FIELDS:
            chars = _np(pc.utf8_length(raw))
            found.refuse(check & ~nul & (chars > MAX_KEY_CHARS), shown,
                         lambda i, s=shown, c=chars: _key_too_long(s, c[i]))
        else:
            size = _np(pc.binary_length(raw))
            found.refuse(check & ~nul & (size > MAX_FIELD_BYTES), shown,
                         lambda i, s=shown, b=size: _field_too_large(s, b[i]))

    # coordinates: both empty with an address is an address-only case (12345 tickets), placed by
    # the address register on import; one of the two empty is refused
    address_only = empty["lon"] & empty["lat"]
    if address_only.any() and "address" in table.column_names:
        address_only &= ~_empty(_trimmed(table, "address"))
    else:
        address_only &= False
    numbers = {}
    for name in ("lon", "lat"):
        value, bad = _parse_numbers(text[name])
        numbers[name] = value
        shown = st.name(name)
        found.refuse(check_coords & empty[name] & ~address_only, shown,
                     lambda i, s=shown: f"{s} is empty; give both lon and lat, or leave both empty and give "
                                        f"the address")
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
    # the row as read, a NUL byte and a lone surrogate spelled out (no text field in the
    # database may hold one)
    raw_cache = {i: st.raw(int(recs[i]), records[i]).replace("\x00", "\\x00")
                 .encode("utf-8", "backslashreplace").decode("utf-8") for i in rows}
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
# Plausibility: rows kept, but warned about
# ---------------------------------------------------------------------------

def far_from_grids(distance_m: Any) -> np.ndarray:
    """Which unassigned points lie farther than :data:`FAR_POINT_M` from every micro-grid.

    Parameters
    ----------
    distance_m
        Per point, metres to the nearest micro-grid (as
        :meth:`gis.core.assignment.GridIndex.assign` measures it); NaN or
        infinite where no distance could be measured, which counts as far.

    Returns
    -------
    numpy.ndarray
        Booleans, one per point.
    """
    distance = np.asarray(distance_m, dtype=float)
    with np.errstate(invalid="ignore"):
        return ~(distance <= FAR_POINT_M)


def placement_columns(hit, *, index: pd.Index) -> pd.DataFrame:
    """The stored assignment columns of points from a :class:`~gis.core.assignment.Assignment`:
    ``micro_code``, ``exclusive_code``, ``suggested_code``, ``suggested_distance_m`` and
    ``far_from_grids``.

    The one rule for suggestions, shared by imports and re-assignment: an
    unassigned point farther than :data:`FAR_POINT_M` from every micro-grid gets
    no suggestion (a grid 50 km or 19,000 km off is no place to send a case);
    its distance is kept, NULL when it cannot be measured.
    """
    micro = pd.Series(hit.micro_code, index=index, dtype=object)
    far = micro.isna().to_numpy() & far_from_grids(hit.suggested_distance_m)
    distance = pd.Series(hit.suggested_distance_m, index=index, dtype=float)
    return pd.DataFrame({
        "micro_code": micro,
        "exclusive_code": pd.Series(hit.exclusive_code, index=index, dtype=object),
        "suggested_code": pd.Series(hit.suggested_code, index=index, dtype=object).where(~far, None),
        "suggested_distance_m": distance.where(distance.abs() < float("inf")),
        "far_from_grids": far,
    }, index=index)


@dataclass
class ImplausibleRows:
    """Kept rows that are unlikely to be right, gathered over the chunks of one import.

    A point far from every micro-grid and a report time in the future are
    stored (no good row is lost, and a dispatcher may place the case by its
    address) but each kind gets one warning naming its count and first lines.

    Parameters
    ----------
    now
        The time of the import (a zone-aware datetime; a naive one is China
        time); ``reported_at`` later than this by more than
        :data:`FUTURE_TOLERANCE_H` hours is in the future.
    """

    now: Any
    far_lines: list[int] = field(default_factory=list)
    far_count: int = 0
    future_lines: list[int] = field(default_factory=list)
    future_count: int = 0

    @property
    def _limit(self) -> pd.Timestamp:
        now = pd.Timestamp(self.now)
        if now.tzinfo is None:
            now = now.tz_localize(CHINA_TZ)
        return now.tz_convert("UTC") + pd.Timedelta(hours=FUTURE_TOLERANCE_H)

    def add(self, incidents: pd.DataFrame, *, far: Any) -> None:
        """Count one chunk's kept rows (:data:`INCIDENT_COLUMNS`); ``far`` marks the points
        :func:`far_from_grids` found far, one boolean per row."""
        lines = incidents["line"].to_numpy()
        far = np.asarray(far, dtype=bool)
        future = (incidents["reported_at"] > self._limit).to_numpy(dtype=bool)
        for mask, listed, count in ((far, self.far_lines, "far_count"),
                                    (future, self.future_lines, "future_count")):
            hits = lines[mask]
            listed.extend(int(line) for line in hits[:max(0, _LINES_LISTED - len(listed))])
            setattr(self, count, getattr(self, count) + len(hits))

    def warnings(self) -> list[str]:
        """One line per kind found: the count, the first lines and the fix."""
        out = []
        if self.far_count:
            out.append(f"{self.far_count} row(s) lie more than {FAR_POINT_M / 1000:g} km from every "
                       f"micro-grid (lines {_listed(self.far_lines, self.far_count)}); stored "
                       "unassigned, without a nearest-grid suggestion: check lon/lat and --crs")
        if self.future_count:
            out.append(f"{self.future_count} row(s) have a reported_at more than {FUTURE_TOLERANCE_H} h "
                       f"after the import (lines {_listed(self.future_lines, self.future_count)}); "
                       "stored as given: check the date and its time zone")
        return out


def _listed(lines: list[int], count: int) -> str:
    return ", ".join(map(str, lines)) + (" …" if count > len(lines) else "")


# ---------------------------------------------------------------------------
# Times in messages
# ---------------------------------------------------------------------------

def _iso_china_one(stamp: np.datetime64) -> str:
    return pd.Timestamp(stamp).tz_localize("UTC").tz_convert(CHINA_TZ).isoformat()
