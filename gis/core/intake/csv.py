"""Streaming a CSV in blocks with pyarrow, physical line numbers kept for every row."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from gis.core.intake.checks import (
    _KNOWN_EXTRA_COLUMNS,
    _TEXT_FIELDS,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    _Dedupe,
    _keys,
    _repeated_keys,
)
from gis.core.intake.encoding import _DECODE_BYTES, _decode_error
from gis.errors import InputError

# pyarrow reads the CSV in blocks of this many bytes (a row may not be longer).
_BLOCK_BYTES = 4 << 20


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
