"""The export writers on their own (no database): quoting, China time, chunks, sheets, limits."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pandas as pd
import pytest

from gis.io import case_export
from gis.io.case_export import Column

COLUMNS = [Column("编号", "code", 20), Column("微网格编码", "code", 19), Column("受理时间", "time", 17),
           Column("地址", "text", 30)]
CONDITIONS = [("受理时间", "2026-11-01 至 2026-11-30（中国时间）"), ("搜索", "a,b\n\"c\"")]
LATE_UTC = datetime(2026, 11, 30, 16, 30, 45, tzinfo=UTC)  # 2026-12-01 00:30 in China


def chunks():
    yield [("0012", "4101020090010001", LATE_UTC, "5#楼, 3单元")]
    yield []
    yield [("A-7", None, None, None), ("00", "4101020090010002", datetime(2026, 11, 1, 1, 2), "东\"门\"")]


def test_csv_quotes_every_field_keeps_leading_zeros_and_writes_china_time():
    buf = io.BytesIO()
    assert case_export.write_csv(buf, COLUMNS, chunks(), conditions=CONDITIONS) == 3
    text = buf.getvalue().decode("utf-8-sig")
    lines = text.split("\r\n")
    # the filter line: one line, no ASCII comma (one cell in Excel), quotes made typographic
    assert lines[0] == "# 筛选条件: 受理时间 2026-11-01 至 2026-11-30（中国时间）；搜索 a，b ”c”"
    assert lines[1] == '"编号","微网格编码","受理时间","地址"'
    assert lines[2] == '"0012","4101020090010001","2026-12-01 00:30","5#楼, 3单元"'
    frame = pd.read_csv(io.BytesIO(buf.getvalue()), **case_export.CSV_READ_OPTIONS)
    assert list(frame["编号"]) == ["0012", "A-7", "00"]
    assert list(frame["微网格编码"]) == ["4101020090010001", "", "4101020090010002"]
    assert list(frame["受理时间"]) == ["2026-12-01 00:30", "", "2026-11-01 09:02"]  # naive means UTC
    assert list(frame["地址"]) == ["5#楼, 3单元", "", '东"门"']
    # without dtype=str pandas guesses numbers even for quoted digits: why the options are documented
    guessed = pd.read_csv(io.BytesIO(buf.getvalue()), skiprows=1)
    assert guessed["微网格编码"].dtype.kind == "f"
    # the csv module reads the same text back
    assert list(csv.reader(io.StringIO("\r\n".join(lines[1:]))))[1][0] == "0012"


def test_xlsx_writes_text_cells_for_codes_and_naive_china_time_date_cells():
    buf = io.BytesIO()
    assert case_export.write_xlsx(buf, COLUMNS, chunks(), conditions=CONDITIONS) == 3
    book = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert book.sheetnames == [case_export.CASES_SHEET, case_export.FILTER_SHEET] == ["工单", "筛选条件"]
    sheet = book["工单"]
    assert [c.value for c in sheet[1]] == ["编号", "微网格编码", "受理时间", "地址"]
    assert sheet.freeze_panes == "A2"
    assert [sheet.column_dimensions[x].width for x in "ABCD"] == [20, 19, 17, 30]
    first = sheet[2]
    assert first[0].value == "0012" and first[0].data_type == "s" and first[0].number_format == "@"
    assert first[1].value == "4101020090010001" and first[1].data_type == "s"
    assert first[2].is_date and first[2].value == datetime(2026, 12, 1, 0, 30)
    assert first[2].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["B3"].value is None and sheet["C3"].value is None
    about = list(book["筛选条件"].iter_rows(values_only=True))
    assert about[0] == ("条件", "取值")
    assert about[1:] == [*CONDITIONS, ("导出条数", "3")]


def test_xlsx_refuses_more_rows_than_a_worksheet_holds(monkeypatch):
    monkeypatch.setattr(case_export, "XLSX_MAX_ROWS", 2)
    with pytest.raises(ValueError, match="more than 2 rows"):
        case_export.write_xlsx(io.BytesIO(), COLUMNS, chunks(), conditions=CONDITIONS)


def test_an_unknown_column_kind_is_refused_with_the_kinds():
    with pytest.raises(ValueError, match="kind 'number' is not one of text, code, time"):
        Column("件数", "number")
