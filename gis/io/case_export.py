"""Writers of the cases page's export: CSV and XLSX, streamed chunk by chunk (pure: no database).

Both writers take the columns (:class:`Column`) and an iterable of row chunks, so
a caller that reads the cases through a server-side cursor holds one chunk at a
time, whatever the number of cases.

Choices (the issue's item 7):

* **The filter travels inside the file.** The XLSX has a second sheet
  ``筛选条件`` (one row per condition). A CSV has no place for it, and a sidecar
  file gets lost, so the CSV's first line is ``# 筛选条件: 时间 …；来源 …`` (no
  ASCII comma in it, so Excel shows it in one cell), followed by the header and
  the rows; the caller also puts the filter's gist in the file name.
* **Codes stay text.** Every CSV field is quoted (``csv.QUOTE_NONNUMERIC``: every
  value is a string), so ``0012`` and the 16-digit micro-grid codes are text for
  any reader that honours quoting. pandas still guesses a type for quoted digits,
  so read the file with :data:`CSV_READ_OPTIONS` (``skiprows=1`` skips the
  filter line, ``dtype=str`` keeps every code as written; ``comment="#"`` works
  too, since every field is quoted). Excel, too, turns quoted digits into
  numbers (``4.10102E+15``) when it opens a CSV, and no quoting stops it short of
  the ``="…"`` trick, which breaks every other reader: **the XLSX is the Excel
  path**, where codes are text cells (``@``) and times real date cells.
* **Times** are China time: ``YYYY-MM-DD HH:MM`` text in the CSV, naive
  datetimes (Excel has no time zones) with the format ``yyyy-mm-dd hh:mm`` in the XLSX.
* **Encoding**: the CSV is UTF-8 with a byte-order mark, which Excel needs to
  read Chinese correctly; pandas and the csv module skip it (``utf-8-sig``).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from gis.core.china_time import CHINA_TZ

CASES_SHEET = "工单"
FILTER_SHEET = "筛选条件"
FILTER_PREFIX = "# 筛选条件: "
#: How pandas reads the CSV back with every code as text: ``pd.read_csv(path, **CSV_READ_OPTIONS)``.
CSV_READ_OPTIONS: dict[str, Any] = {"skiprows": 1, "dtype": str, "keep_default_na": False,
                                    "encoding": "utf-8-sig"}
#: Rows a worksheet holds besides its header (Excel's limit is 1,048,576 rows).
XLSX_MAX_ROWS = 1_048_575
TIME_FORMAT = "%Y-%m-%d %H:%M"
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"
KINDS = ("text", "code", "time")


@dataclass(frozen=True)
class Column:
    """One exported column: its Chinese header, its kind and its width in the XLSX (characters).

    ``kind``: ``text`` (a string cell), ``code`` (digits that must stay text: a text cell
    with the ``@`` format) or ``time`` (an aware datetime, written in China time).
    """

    header: str
    kind: str = "text"
    width: float = 12

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column '{self.header}': kind '{self.kind}' is not one of {', '.join(KINDS)}")


def china_time(value: datetime | None) -> datetime | None:
    """``value`` (aware, or naive UTC) as a naive China-time datetime, to the minute; None stays None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA_TZ).replace(tzinfo=None, second=0, microsecond=0)


def filter_line(conditions: Sequence[tuple[str, str]]) -> str:
    """The CSV's first line: ``# 筛选条件: 时间 2026-11-01 至 2026-11-30；来源 全部``, on one
    line and without ASCII commas (Excel shows it in one cell; pandas skips it)."""
    text = "；".join(f"{name} {value}" for name, value in conditions)
    text = " ".join(text.split()).replace(",", "，").replace('"', "”")
    return FILTER_PREFIX + text


def _csv_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "time":
        return china_time(value).strftime(TIME_FORMAT)
    return str(value)


def write_csv(out: IO[bytes], columns: Sequence[Column], chunks: Iterable[Iterable[Sequence[Any]]], *,
              conditions: Sequence[tuple[str, str]]) -> int:
    """Write the filter line, the header and every row of ``chunks`` to the binary file ``out``
    (UTF-8 with BOM, every field quoted); return the number of rows written.

    Memory: one chunk of rows and its encoded text at a time.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")

    def flush() -> None:
        out.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()

    out.write(codecs.BOM_UTF8)
    buffer.write(filter_line(conditions) + "\r\n")
    writer.writerow([c.header for c in columns])
    kinds = [c.kind for c in columns]
    n = 0
    for chunk in chunks:
        rows = [[_csv_text(v, k) for v, k in zip(row, kinds)] for row in chunk]
        writer.writerows(rows)
        n += len(rows)
        flush()
    flush()
    return n


def write_xlsx(out: IO[bytes] | str, columns: Sequence[Column], chunks: Iterable[Iterable[Sequence[Any]]], *,
               conditions: Sequence[tuple[str, str]]) -> int:
    """Write sheet ``工单`` (frozen header, column widths, codes as text cells, times as date
    cells) and sheet ``筛选条件`` (the conditions and the number of rows) to ``out``; return
    the number of rows written.

    openpyxl's write-only mode streams the rows to a temporary file, so memory holds one
    chunk at a time. More rows than a worksheet holds raise :class:`ValueError` (the caller
    checks the count first and says so in Chinese).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(CASES_SHEET)
    sheet.freeze_panes = "A2"
    for i, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = column.width
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = bold
        cell.alignment = Alignment(horizontal="center")
        header.append(cell)
    sheet.append(header)

    def cell_of(value: Any, kind: str) -> Any:
        if value is None:
            return None
        if kind == "text":
            return str(value)
        cell = WriteOnlyCell(sheet)
        if kind == "code":
            cell.value = str(value)
            cell.number_format = "@"
        else:
            cell.value = china_time(value)
            cell.number_format = XLSX_TIME_FORMAT
        return cell

    kinds = [c.kind for c in columns]
    n = 0
    try:
        for chunk in chunks:
            for row in chunk:
                n += 1
                if n > XLSX_MAX_ROWS:
                    raise ValueError(f"more than {XLSX_MAX_ROWS} rows: an Excel worksheet holds no more")
                sheet.append([cell_of(v, k) for v, k in zip(row, kinds)])
    except BaseException:
        with contextlib.suppress(Exception):  # finish the sheet's temporary file; the book is not saved
            sheet.close()
        raise

    about = book.create_sheet(FILTER_SHEET)
    about.column_dimensions["A"].width = 14
    about.column_dimensions["B"].width = 60
    head = []
    for text in ("条件", "取值"):
        cell = WriteOnlyCell(about, value=text)
        cell.font = bold
        head.append(cell)
    about.append(head)
    for name, value in conditions:
        about.append([name, str(value)])
    about.append(["导出条数", str(n)])
    book.save(out)
    return n


__all__ = [
    "CASES_SHEET",
    "CSV_READ_OPTIONS",
    "FILTER_PREFIX",
    "FILTER_SHEET",
    "TIME_FORMAT",
    "XLSX_MAX_ROWS",
    "XLSX_TIME_FORMAT",
    "Column",
    "china_time",
    "filter_line",
    "write_csv",
    "write_xlsx",
]
