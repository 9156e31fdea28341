"""Streaming a CSV in blocks with pyarrow, physical line numbers kept for every row.

Two kinds of broken rows would take good rows down with them, and are read
apart so that each is refused alone, with its line span:

- a quote that is never closed: pyarrow runs the field on over the rows below
  it (to the next quote, or to the end of the file). A field whose later lines
  read as rows of this file (the header's field count, an id and a time or a
  point where the header has them) is such a field; its row is refused and the
  reading starts again on the line after the quote, so the rows it took in are
  read as rows of their own. A quote still open at the end of the file is
  refused the same way. A quoted field with line breaks that is closed (a
  multi-line description) is kept as it is.
- a row longer than pyarrow's block (a field of many megabytes): it is measured
  by :class:`_RecordScanner` without being held whole, refused for its largest
  field, and the reading goes on after it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gis.core.intake.checks import (
    _KEY_FIELDS,
    _KNOWN_EXTRA_COLUMNS,
    _TEXT_FIELDS,
    MAX_FIELD_BYTES,
    MAX_KEY_CHARS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    _Dedupe,
    _field_too_large,
    _key_too_long,
    _keys,
    _repeated_keys,
)
from gis.core.intake.encoding import _DECODE_BYTES, _decode_error
from gis.errors import InputError

# pyarrow reads the CSV in blocks of this many bytes; a longer row is read apart.
_BLOCK_BYTES = 4 << 20
# Blocks after a restart (past a quote never closed): small, so that a file broken
# on many rows is not parsed again 4 MB at a time after each; full blocks again
# after this many quiet batches.
_RESTART_BLOCK_BYTES = 64 << 10
_QUIET_BATCHES = 8
# Rows with a quote never closed that a file may have before it is refused whole:
# each costs a new reader (about a millisecond), and a file broken on every row
# needs exporting again rather than reading row by row.
_MAX_UNCLOSED_ROWS = 1000
# Bytes read at a time when scanning a record or counting lines outside pyarrow.
_SCAN_BYTES = 1 << 20
# The header names columns; a first row longer than this is not a header.
_MAX_HEADER_BYTES = 1 << 20
# Of a row refused while reading, the text kept in its reject (``raw``), and the
# bytes of each of its fields kept to judge it.
_RAW_KEPT_BYTES = MAX_FIELD_BYTES
# pyarrow's message for a row longer than its block.
_STRADDLING = "straddl"
# A value with a later line holding two commas: the only values worth a closer
# look for rows taken in by a quote never closed.
_LATER_LINE_WITH_COMMAS = r"[\r\n][^\r\n]*,[^\r\n]*,"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DATE_START = re.compile(r"\s*\d{4}-\d{1,2}-\d{1,2}")
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")


class _RowTooLong(Exception):
    """pyarrow met a row longer than its block; the rows before it have been handed over."""


# ---------------------------------------------------------------------------
# Records read apart, without pyarrow
# ---------------------------------------------------------------------------

_QUOTE, _COMMA, _CR, _LF = 0x22, 0x2C, 0x0D, 0x0A
_UNQUOTED_END = re.compile(rb"[,\r\n]")
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_FIELD_START, _UNQUOTED, _QUOTED = range(3)


@dataclass
class _ScannedField:
    """One field of a record read apart."""

    size: int = 0           # bytes of its value (a doubled quote counts once)
    chars: int = 0          # characters of its value, when the bytes are UTF-8
    breaks: int = 0         # line breaks inside it
    breaks_before: int = 0  # line breaks of the record before it starts
    quoted: bool = False
    head: bytearray = field(default_factory=bytearray)  # its first bytes


@dataclass
class _ScannedRecord:
    """A record read apart: its size in bytes (with its line break), physical lines,
    fields (the first ``keep_fields``; ``count`` in all), the first field past those
    over :data:`MAX_FIELD_BYTES`, and the field whose quote the end of the file left open."""

    size: int
    lines: int
    fields: list[_ScannedField]
    count: int
    large_beyond: tuple[int, _ScannedField] | None
    open_field: int | None


class _RecordScanner:
    """Reads one CSV record from a binary file's position, splitting it as pyarrow does.

    RFC 4180 as pyarrow reads it: a quote opens a quoted field only at the
    field's start, ``""`` inside is one quote, text after the closing quote
    joins the field, and CR, LF or CRLF end the record outside quotes. Memory
    stays bounded whatever the record's size: each field is measured and only
    its first ``keep_bytes`` are kept (all with None). The bytes scanned are
    ASCII-transparent, so UTF-8 and GB18030 alike (no byte of a GB18030
    character is a quote, comma, CR or LF).
    """

    def __init__(self, handle: BinaryIO, *, keep_bytes: int | None = 0,
                 keep_fields: int | None = None) -> None:
        self.handle = handle
        self.keep_bytes = keep_bytes
        self.keep_fields = keep_fields

    def scan(self) -> _ScannedRecord | None:
        """The next record; None at the end of the file."""
        self.buf, self.at, self.done = self.handle.read(_SCAN_BYTES), 0, 0
        if not self.buf:
            return None
        self.fields: list[_ScannedField] = []
        self.count = self.breaks = 0
        self.after_cr = self.after_break = False
        self.large_beyond: tuple[int, _ScannedField] | None = None
        self.field = None
        self._start_field()
        state = _FIELD_START
        while True:
            if self.at >= len(self.buf) and not self._refill():
                return self._record(self.done + self.at,
                                    open_field=self.count - 1 if state == _QUOTED else None)
            buf, at = self.buf, self.at
            if state == _FIELD_START:
                if buf[at] == _QUOTE:
                    self.field.quoted = True
                    self.at, state = at + 1, _QUOTED
                else:
                    state = _UNQUOTED
            elif state == _UNQUOTED:
                stop = _UNQUOTED_END.search(buf, at)
                end = stop.start() if stop else len(buf)
                self._take(buf[at:end], quoted=False)
                self.at = end
                if stop is None:
                    continue
                if buf[end] == _COMMA:
                    self.at, state = end + 1, _FIELD_START
                    self._start_field()
                    continue
                if buf[end] == _CR and end + 1 == len(buf):
                    self._refill()  # is the CR followed by LF?
                    buf, end = self.buf, self.at
                crlf = buf[end] == _CR and end + 1 < len(buf) and buf[end + 1] == _LF
                return self._record(self.done + end + (2 if crlf else 1), open_field=None)
            else:
                quote = buf.find(b'"', at)
                end = quote if quote >= 0 else len(buf)
                self._take(buf[at:end], quoted=True)
                self.at = end
                if quote < 0:
                    continue
                if quote + 1 == len(buf):
                    self._refill()  # a doubled quote, or the closing one?
                    buf, quote = self.buf, self.at
                if quote + 1 < len(buf) and buf[quote + 1] == _QUOTE:
                    self._take(b'"', quoted=True)
                    self.at = quote + 2
                else:
                    self.at, state = quote + 1, _UNQUOTED

    def _refill(self) -> bool:
        """Keep the unread bytes and read more; False at the end of the file."""
        more = self.handle.read(_SCAN_BYTES)
        self.done += self.at
        self.buf, self.at = self.buf[self.at:] + more, 0
        return bool(more)

    def _start_field(self) -> None:
        self._end_field()
        self.count += 1
        self.field = _ScannedField(breaks_before=self.breaks)
        if self.keep_fields is None or self.count <= self.keep_fields:
            self.fields.append(self.field)

    def _end_field(self) -> None:
        index = self.count - 1
        if (self.field is not None and self.large_beyond is None and self.keep_fields is not None
                and index >= self.keep_fields and self.field.size > MAX_FIELD_BYTES):
            self.large_beyond = (index, self.field)

    def _take(self, segment: bytes, *, quoted: bool) -> None:
        if not segment:
            return
        current = self.field
        current.size += len(segment)
        current.chars += len(segment.translate(None, _UTF8_CONTINUATION))
        if self.keep_bytes is None:
            current.head += segment
        elif len(current.head) < self.keep_bytes:
            current.head += segment[:self.keep_bytes - len(current.head)]
        if quoted:
            breaks = _count_breaks(segment) - (1 if self.after_cr and segment[:1] == b"\n" else 0)
            self.after_cr = segment[-1:] == b"\r"
            self.after_break = segment[-1:] in (b"\n", b"\r")
            current.breaks += breaks
            self.breaks += breaks
        else:
            self.after_cr = self.after_break = False

    def _record(self, size: int, *, open_field: int | None) -> _ScannedRecord:
        self._end_field()
        lines = self.breaks + 1
        if open_field is not None and self.after_break:
            lines -= 1  # the file's last line break, inside the quote, starts no line
        return _ScannedRecord(size=size, lines=lines, fields=self.fields,
                              count=self.count, large_beyond=self.large_beyond,
                              open_field=open_field)


def _count_breaks(data: bytes) -> int:
    """Line breaks in bytes: CRLF, CR or LF each once (as line readers count them)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


class _LineSeeker:
    """Byte offsets of a file's physical lines, counted forward from the last one found."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line, self.offset = 1, 0

    def mark(self, line: int, offset: int) -> None:
        """Note that ``line`` starts at byte ``offset``."""
        self.line, self.offset = line, offset

    def offset_of(self, line: int) -> int:
        """Where ``line`` (from 1) starts; the file's size past its last line."""
        if line < self.line:
            self.mark(1, 0)
        at, offset = self.line, self.offset
        with self.path.open("rb") as handle:
            handle.seek(offset)
            while at < line:
                block = handle.read(_SCAN_BYTES)
                if not block:
                    break
                while block.endswith(b"\r"):  # never split a CRLF
                    more = handle.read(1)
                    if not more:
                        break
                    block += more
                breaks = _count_breaks(block)
                if at + breaks < line:
                    at, offset = at + breaks, offset + len(block)
                    continue
                for found in re.finditer(rb"\r\n|\r|\n", block):
                    at += 1
                    if at == line:
                        offset += found.end()
                        break
        self.mark(at, offset)
        return offset


def _raw_text(path: Path, start: int, end: int) -> str:
    """The file's text from byte ``start`` to ``end``, without its last line break; cut
    at :data:`_RAW_KEPT_BYTES` with a note of the whole size."""
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(min(end - start, _RAW_KEPT_BYTES))
    text = data.decode("utf-8", errors="replace")
    if end - start > len(data):
        return f"{text} … ({end - start} bytes in all)"
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[:-len(ending)]
    return text


def _span(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}–{last}"


def _unclosed_reason(name: str, quote_line: int, first: int, last: int, *, took_rows: bool) -> str:
    """Why a row whose quote is never closed is refused."""
    if took_rows:
        return (f'the quote (") that opens {name} on line {quote_line} is never closed, so the row '
                f"ran over {_span(first, last)} and took in the rows below it (they are read again "
                'as rows of their own); close the quote ("…")')
    return (f'the quote (") that opens {name} on line {quote_line} is never closed: the row runs '
            f'over {_span(first, last)}, to the end of the file; close the quote ("…")')


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
                 block_size: int | None = None, encoding: str = "utf8",
                 column_names: list[str] | None = None) -> dict[str, Any]:
        # use_threads=False: only then does pyarrow number the irregular rows.
        return dict(
            read_options=pacsv.ReadOptions(use_threads=False, block_size=block_size or _BLOCK_BYTES,
                                           encoding=encoding, column_names=column_names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                             invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in getattr(self, "header", [])},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                include_columns=include),
        )

    def _read_header(self) -> list[str]:
        # The first record is found by the scanner (whatever follows it, a row of
        # any size or a quote never closed, is left to the rows' reading) and its
        # names are pyarrow's own, so that they match the reader's exactly.
        with self.path.open("rb") as handle:
            record = _RecordScanner(handle, keep_fields=0).scan()
            if record is not None and record.size <= _MAX_HEADER_BYTES:
                handle.seek(0)
                first = handle.read(record.size)
        if record is None:
            raise InputError(f"{self.path.name} is empty",
                             fix="give a CSV whose first row names the columns")
        fix = (f"the first row must name the columns {', '.join(REQUIRED_FIELDS)}, "
               "separated by commas")
        if record.open_field is not None:
            raise InputError(f"{self.path.name}: the quote (\") that opens column "
                             f"{record.open_field + 1} of the header (line 1) is never closed",
                             field="header", fix=fix)
        if record.size > _MAX_HEADER_BYTES:
            raise InputError(f"{self.path.name}: the first row is {record.size} bytes long, "
                             f"more than the {_MAX_HEADER_BYTES >> 20} MB a header may have",
                             field="header", fix=fix)
        try:
            table = pacsv.read_csv(io.BytesIO(first), **self._options(
                lambda row: "skip", block_size=max(1 << 16, 2 * len(first)),
                encoding=self._arrow_encoding))
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                raise InputError(f"{self.path.name} is empty",
                                 fix="give a CSV whose first row names the columns") from None
            raise _csv_error(self.path, exc) from None
        except UnicodeDecodeError as exc:
            with self.path.open("rb") as handle:
                where = _decode_error(handle, self.encoding) or exc.reason
            raise InputError(f"{self.path.name} is neither UTF-8 nor GB18030 ({where})",
                             fix="save it as 'CSV UTF-8' (Excel: 另存为 → CSV UTF-8)") from None
        return list(table.schema.names)

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

    def _records(self, data: Path, include: list[str] | None, *, start: int | None = None,
                 block_size: int | None = None
                 ) -> Iterator[tuple[pa.RecordBatch | None, list, int]]:
        """(batch of well-formed rows, [(record number, text)] of the others, first record).

        Reads ``data`` from byte ``start`` (by default the line after the
        header) to its end, records numbered from 1 there.

        Raises
        ------
        _RowTooLong
            At a row longer than the block, once the rows before it are handed over.
        """
        if start is None:
            start = _LineSeeker(data).offset_of(1 + self._header_lines)
        invalid: deque = deque()

        def on_invalid(row) -> str:
            invalid.append((row.number, row.text))
            return "skip"

        with data.open("rb") as handle:
            handle.seek(start)
            try:
                reader = pacsv.open_csv(handle, **self._options(
                    on_invalid, include=include, block_size=block_size, column_names=self.header))
            except pa.ArrowInvalid as exc:
                if "Empty CSV file" in str(exc):
                    return
                if _STRADDLING in str(exc):
                    raise _RowTooLong() from None
                raise _csv_error(self.path, exc) from None
            next_rec = 1
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    if _STRADDLING not in str(exc):
                        raise _csv_error(self.path, exc) from None
                    if invalid:  # irregular rows before the long one
                        yield None, _in_order(invalid, next_rec), next_rec
                    raise _RowTooLong() from None
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
                yield None, _in_order(invalid, next_rec), next_rec

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
        table = table.append_column("__rec", pa.array(recs - 1))
        if with_lines:
            table = table.append_column("__span", pa.array(spans))
        return table

    def tables(self, data: Path) -> Iterator[pa.Table]:
        """All rows of ``data`` (the file as UTF-8), in blocks: every column (renamed),
        __rec, __line, __raw, __pre_field, __pre_reason."""
        return self._blocks(data)

    def duplicates(self, source: str | None, data: Path) -> _Dedupe | None:
        """First pass over ``data``: the (source, external_id) keys that repeat.

        The rows are read exactly as the second pass reads them (rows taken in
        by a quote never closed are rows of their own in both).
        """
        parts = [_keys(table, source) for table in self._blocks(data)]
        return _repeated_keys(pa.concat_arrays(parts)) if parts else None

    def _blocks(self, data: Path) -> Iterator[pa.Table]:
        """The rows of ``data`` in file order, in blocks (see :meth:`tables`).

        pyarrow reads from the first data line on. Where it met a row longer
        than its block, or a row whose quote is never closed, that row is refused
        (__pre_reason) and a new reader starts after it: after the row read
        apart, or on the line after the quote.
        """
        seeker = _LineSeeker(data)
        line, rec = 1 + self._header_lines, 0
        start, block = seeker.offset_of(line), _BLOCK_BYTES
        held = None  # the last block, held back until the end of the file is checked
        unclosed: list[int] = []  # lines of the rows whose quote took in the rows below
        while True:
            go_on: tuple[int, int | None, int] | None = None  # (line, offset, block size)
            quiet = 0
            try:
                for batch, invalid, first_rec in self._records(data, None, start=start,
                                                               block_size=block):
                    if batch is not None:
                        batch = pa.RecordBatch.from_arrays(batch.columns, names=self.columns)
                    table, spans = self._lined(
                        self._table(batch, invalid, first_rec, self.columns, with_lines=True),
                        line=line, rec=rec)
                    broken = self._swallowing(table, spans)
                    if broken is not None:
                        row, name, quote_line = broken
                        first = int(table.column("__line")[row].as_py())
                        raw = _raw_text(data, seeker.offset_of(first), seeker.offset_of(quote_line + 1))
                        reason = _unclosed_reason(name, quote_line, first, first + int(spans[row]) - 1,
                                                  took_rows=True)
                        table = pa.concat_tables([table.slice(0, row), self._refused(
                            line=first, rec=rec + row, name=name, reason=reason, raw=raw)])
                        go_on = (quote_line + 1, None, _RESTART_BLOCK_BYTES)
                    if held is not None:
                        yield held
                    held = table
                    rec += table.num_rows
                    if go_on is not None:
                        break
                    line += int(spans.sum())
                    quiet += 1
                    if block < _BLOCK_BYTES and quiet >= _QUIET_BATCHES:
                        go_on = (line, None, _BLOCK_BYTES)
                        break
            except _RowTooLong:
                if block < _BLOCK_BYTES:  # a row of a size pyarrow takes in a full block
                    go_on = (line, None, _BLOCK_BYTES)
                else:
                    refused, go_on = self._read_apart(data, seeker, line=line, rec=rec)
                    if held is not None:
                        yield held
                    held = refused
                    rec += 1
            if go_on is None and held is not None and held.num_rows:
                held, go_on = self._check_end(data, seeker, held, end_line=line)
            if go_on is None:
                break
            if go_on[2] == _RESTART_BLOCK_BYTES and go_on[1] is None:  # past a quote never closed,
                # whose refused row ends the held block
                unclosed.append(int(held.column("__line")[held.num_rows - 1].as_py()))
                if len(unclosed) > _MAX_UNCLOSED_ROWS:
                    raise InputError(
                        f"{self.path.name}: more than {_MAX_UNCLOSED_ROWS} rows have a quote (\") "
                        f"that is never closed (lines {', '.join(map(str, unclosed[:5]))} …): the "
                        "file's quoting is broken throughout",
                        fix="export it again with text fields in double quotes and any quote "
                            "inside doubled (\"\"), or with no quotes at all")
            line, block = go_on[0], go_on[2]
            start = go_on[1] if go_on[1] is not None else seeker.offset_of(line)
        if held is not None:
            yield held

    def _lined(self, table: pa.Table, *, line: int, rec: int) -> tuple[pa.Table, np.ndarray]:
        """A block from :meth:`_table` with __line (from ``line``) and __rec (from ``rec``),
        in the columns of :meth:`tables`; and the physical lines of each row."""
        spans = table.column("__span").to_numpy()
        starts = line + np.cumsum(spans) - spans
        recs = table.column("__rec").to_numpy() + rec
        columns = {name: table.column(name) for name in self.columns}
        columns["__rec"] = pa.array(recs, type=pa.int64())
        columns["__line"] = pa.array(starts, type=pa.int64())
        for name in ("__raw", "__pre_field", "__pre_reason"):
            columns[name] = (table.column(name) if name in table.column_names
                             else pa.nulls(table.num_rows, pa.string()))
        return pa.table(columns), spans

    def _refused(self, *, line: int, rec: int, name: str, reason: str, raw: str) -> pa.Table:
        """A row refused while reading, as one row of a block."""
        columns: dict[str, pa.Array] = {column: pa.array([""], type=pa.string())
                                        for column in self.columns}
        columns["__rec"] = pa.array([rec], type=pa.int64())
        columns["__line"] = pa.array([line], type=pa.int64())
        columns["__raw"] = pa.array([raw], type=pa.string())
        columns["__pre_field"] = pa.array([name], type=pa.string())
        columns["__pre_reason"] = pa.array([reason], type=pa.string())
        return pa.table(columns)

    def _label(self, index: int) -> str:
        """The name of a field of a row: our column name, else the header's, else its number."""
        if index < self.width:
            name = self.columns[index]
            if not name.startswith("__col"):
                return name
            if self.header[index].strip():
                return self.header[index].strip()
        return f"column {index + 1}"

    def _looks_like_row(self, text: str) -> bool:
        """Whether a line inside a field reads as a row of this file of its own.

        It must have a value where the header has ``external_id``, and a time
        (``YYYY-M-D…``) where it has ``reported_at`` or two numbers where it has
        ``lon`` and ``lat``. A line of a description seldom does; a row of an
        incident export always does. (A source code alone is no sign: the
        hotline's number 12345 starts many a line of a description.)
        """
        if text.count(",") < 2:
            return False
        values = _split_row(text)

        def value(name: str) -> str:
            at = self.positions.get(name)
            return values[at] if at is not None and at < len(values) else ""

        if not value("external_id").strip():
            return False
        return bool(_DATE_START.match(value("reported_at"))
                    or (_NUMBER.match(value("lon")) and _NUMBER.match(value("lat"))))

    def _took_rows(self, value: str, *, cut: bool = False) -> bool:
        """Whether a field's value has, after its first line, lines that read as rows (the
        last line left out when ``cut``: the value was cut there)."""
        lines = _LINE_BREAK.split(value)[1:]
        if cut and lines:
            lines.pop()
        return any(self._looks_like_row(text) for text in lines)

    def _swallowing(self, table: pa.Table, spans: np.ndarray) -> tuple[int, str, int] | None:
        """The first row of a block whose quote is never closed and took in rows below it:
        (row, field name, line of the quote); None when there is none."""
        if not (spans > 1).any():
            return None
        hit = np.zeros(table.num_rows, dtype=bool)
        for name in self.columns + ["__raw"]:
            column = table.column(name).combine_chunks()
            breaks = _count_newlines(column)
            if breaks is None:
                continue
            rows = np.flatnonzero(breaks)
            found = _np_bool(pc.match_substring_regex(column.take(pa.array(rows)),
                                                      _LATER_LINE_WITH_COMMAS))
            hit[rows[found]] = True
        for row in np.flatnonzero(hit):
            raw = table.column("__raw")[row].as_py()
            values = (_split_row(raw) if raw is not None
                      else [table.column(name)[row].as_py() for name in self.columns])
            breaks = [_count_newlines_text(value) for value in values]
            index = next((i for i, value in enumerate(values)
                          if breaks[i] and self._took_rows(value)), None)
            if index is None and raw is not None and len(values) > self.width:
                # More fields than the header: the quote may have closed early in a row it
                # took in (at a quoted category, say), leaving that row's fields to this
                # one. Its physical lines tell: the field holding the line break before
                # the first line that reads as a row is the one whose quote was left open.
                taken = next((i for i, text in enumerate(_LINE_BREAK.split(raw)[1:], 1)
                              if self._looks_like_row(text)), None)
                if taken is not None:
                    ends = np.cumsum(breaks)
                    index = int(np.searchsorted(ends, taken))
            if index is not None:
                first = int(table.column("__line")[row].as_py())
                return int(row), self._label(index), first + sum(breaks[:index])
        return None

    def _read_apart(self, data: Path, seeker: _LineSeeker, *, line: int, rec: int
                    ) -> tuple[pa.Table, tuple[int, int | None, int]]:
        """Refuse the row on ``line``, too long for pyarrow, read by the scanner; (the
        refused row, where to go on)."""
        start = seeker.offset_of(line)
        with data.open("rb") as handle:
            handle.seek(start)
            record = _RecordScanner(handle, keep_bytes=_RAW_KEPT_BYTES,
                                    keep_fields=max(self.width, 1)).scan()
        if record is None:
            raise RuntimeError("pyarrow reported a long CSV row past the end of the file")
        last = line + record.lines - 1
        for index, scanned in enumerate(record.fields):
            if scanned.quoted and scanned.breaks and self._took_rows(
                    scanned.head.decode("utf-8", errors="replace"),
                    cut=scanned.size > len(scanned.head)):
                quote_line = line + scanned.breaks_before
                name = self._label(index)
                refused = self._refused(
                    line=line, rec=rec, name=name,
                    reason=_unclosed_reason(name, quote_line, line, last, took_rows=True),
                    raw=_raw_text(data, start, seeker.offset_of(quote_line + 1)))
                return refused, (quote_line + 1, None, _RESTART_BLOCK_BYTES)
        end = start + record.size
        seeker.mark(last + 1, end)
        raw = _raw_text(data, start, end)
        if record.open_field is not None:
            index = record.open_field
            name = self._label(index)
            quote_line = line + (record.fields[index].breaks_before if index < len(record.fields)
                                 else 0)
            reason = _unclosed_reason(name, quote_line, line, last, took_rows=False)
        else:
            name, reason = self._too_long(record, line, last)
        return (self._refused(line=line, rec=rec, name=name, reason=reason, raw=raw),
                (last + 1, end, _BLOCK_BYTES))

    def _too_long(self, record: _ScannedRecord, first: int, last: int) -> tuple[str | None, str]:
        """(field, reason) for a row longer than a block: its first field over the limits."""
        for index, scanned in enumerate(record.fields):
            name = self._label(index)
            if index < self.width and self.columns[index] in _KEY_FIELDS:
                if scanned.chars > MAX_KEY_CHARS:
                    return name, _key_too_long(name, scanned.chars)
            elif scanned.size > MAX_FIELD_BYTES:
                return name, _field_too_large(name, scanned.size)
        if record.large_beyond is not None:
            index, scanned = record.large_beyond
            return self._label(index), _field_too_large(self._label(index), scanned.size)
        return None, (f"the row over {_span(first, last)} is {record.size} bytes long with "
                      f"{record.count} fields (the header has {self.width}), more than the "
                      f"{_BLOCK_BYTES >> 20} MB a row may have; check the quoting and the commas")

    def _check_end(self, data: Path, seeker: _LineSeeker, held: pa.Table, *, end_line: int
                   ) -> tuple[pa.Table, tuple[int, int | None, int] | None]:
        """The file's last row, in ``held``, refused if the end of the file left its quote
        open; (the block, where to go on if it took in rows)."""
        last = held.num_rows - 1
        first = int(held.column("__line")[last].as_py())
        raw = held.column("__raw")[last].as_py()
        if (held.column("__pre_reason")[last].is_valid
                or (end_line - first <= 1 and (raw is None or '"' not in raw))):
            return held, None
        start = seeker.offset_of(first)
        with data.open("rb") as handle:
            handle.seek(start)
            record = _RecordScanner(handle, keep_bytes=_RAW_KEPT_BYTES,
                                    keep_fields=max(self.width, 1)).scan()
        if record is None or record.open_field is None:
            return held, None
        refused, go_on = self._read_apart(data, seeker, line=first,
                                          rec=int(held.column("__rec")[last].as_py()))
        held = pa.concat_tables([held.slice(0, last), refused])
        return held, (go_on if go_on[2] == _RESTART_BLOCK_BYTES else None)

    def raw_text(self, rec: int, row: Mapping[str, Any]) -> str:
        """The row as CSV text (its own text when it was irregular)."""
        if row.get("__raw") is not None:
            return row["__raw"]
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([row.get(name, "") for name in self.columns])
        return out.getvalue()


def _csv_error(path: Path, exc: Exception) -> InputError:
    return InputError(f"{path.name} cannot be read as CSV: {exc}",
                      fix="check the quoting and the column count of the rows around it")


def _in_order(invalid: deque, next_rec: int) -> list:
    """The irregular rows left over, checked to follow on from record ``next_rec``."""
    taken = list(invalid)
    invalid.clear()
    if [n for n, _ in taken] != list(range(next_rec, next_rec + len(taken))):
        raise RuntimeError("pyarrow reported an invalid CSV row out of order")
    return taken


def _np_bool(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    array = pc.fill_null(array, False)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.to_numpy(zero_copy_only=False).astype(bool)


def _split_row(text: str) -> list[str]:
    """Fields of one CSV record given as text (it may span lines)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:  # a field over the csv module's limit (128 KB): split by the scanner
        record = _RecordScanner(io.BytesIO(text.encode("utf-8")), keep_bytes=None).scan()
        return [] if record is None else [f.head.decode("utf-8") for f in record.fields]
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
