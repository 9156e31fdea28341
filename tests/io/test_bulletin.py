"""gis.report (pure) and ``python -m gis report weekly``: the weekly bulletin as .xlsx and .html."""

from __future__ import annotations

import io
import math
import re
from datetime import date

import openpyxl
import pandas as pd
import pytest

from gis import workflows
from gis.io import bulletin as report
from tests.workflows.test_dashboards import SIX, load

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(2)>'


def hand_bulletin() -> workflows.Bulletin:
    """Two communities, one ranked and one not; a hostile community name; one unknown rate."""
    communities = pd.DataFrame({
        "code": ["C1", "C2"], "name": [HOSTILE, "乙社区"], "street": ["A&B街道", None],
        "rank": pd.array([1, None], dtype="Int64"), "previous_rank": pd.array([2, None], dtype="Int64"),
        "received": [12, 3], "completed": [9, 0], "due": [12, 0], "on_time": [6, 0], "open": [3, 3],
        "overdue": [1, 2], "completion_rate": [0.75, math.nan], "on_time_rate": [0.5, math.nan],
        "received_change": [2, -1], "completion_rate_change": [0.125, math.nan],
    })
    worst = pd.DataFrame({"code": ["G2-01"], "name": [HOSTILE_ATTR], "community": ["乙社区"], "received": [2],
                          "open": [2], "overdue": [1], "completion_rate": [0.0]})
    totals = {"received": 15.0, "completed": 9.0, "due": 12.0, "on_time": 6.0, "open": 6.0, "overdue": 3.0,
              "completion_rate": 0.75, "on_time_rate": 0.5}
    previous = {"received": 12.0, "completed": 6.0, "due": 10.0, "on_time": 5.0, "open": 6.0, "overdue": 4.0,
                "completion_rate": 0.6, "on_time_rate": 0.5}
    return workflows.Bulletin(week="2026-W47", since=date(2026, 11, 16), until=date(2026, 11, 22),
                              communities=communities, worst_micro=worst, totals=totals,
                              previous_totals=previous, min_due=10)


def rows_of(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


# -- the community table ---------------------------------------------------------------------------


def test_community_table_has_chinese_headers_and_the_change_in_points():
    table = report.community_table(hand_bulletin())
    assert list(table.columns) == list(report.COMMUNITY_COLUMNS_ZH.values())
    assert table["办结率较上周(百分点)"].iloc[0] == pytest.approx(12.5)
    assert table["办结率"].iloc[0] == 0.75          # rates stay fractions
    assert table["社区"].iloc[0] == HOSTILE         # data, not markup: nothing escaped here


# -- Excel ----------------------------------------------------------------------------------------------


def test_xlsx_opens_with_three_sheets_and_percent_formats():
    book = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(hand_bulletin())))
    assert book.sheetnames == ["社区排名", "问题微网格", "汇总"]
    ranking = book["社区排名"]
    rows = rows_of(ranking)
    assert rows[0] == list(report.COMMUNITY_COLUMNS_ZH.values())
    first = dict(zip(rows[0], rows[1]))
    assert first["排名"] == 1 and first["社区"] == HOSTILE and first["街道"] == "A&B街道"
    assert (first["受理数"], first["办结数"], first["应办结数"], first["超期(督办)"]) == (12, 9, 12, 1)
    assert first["办结率"] == 0.75 and first["按期办结率"] == 0.5
    assert first["办结率较上周(百分点)"] == pytest.approx(12.5) and first["上周排名"] == 2
    second = dict(zip(rows[0], rows[2]))
    assert second["排名"] is None and second["办结率"] is None and second["上周排名"] is None  # unranked, nothing due
    for header in ("办结率", "按期办结率"):
        col = rows[0].index(header) + 1
        assert [ranking.cell(row=r, column=col).number_format for r in (2, 3)] == ["0.0%", "0.0%"]
    assert ranking.cell(row=2, column=rows[0].index("受理数") + 1).number_format == "General"
    assert ranking.freeze_panes == "A2"


def test_xlsx_lists_the_worst_micro_grids_and_a_summary():
    book = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(hand_bulletin())))
    worst = rows_of(book["问题微网格"])
    assert worst[0] == list(report.MICRO_COLUMNS_ZH.values())
    assert worst[1] == [HOSTILE_ATTR, "乙社区", 2, 2, 1, 0]
    summary = dict(rows_of(book["汇总"])[1:])
    assert summary["周次"] == "2026-W47" and summary["起止"] == "2026-11-16 至 2026-11-22"
    assert (summary["受理数"], summary["办结数"], summary["超期(督办)"]) == (15, 9, 3)
    assert (summary["办结率"], summary["按期办结率"]) == ("75.0%", "50.0%")
    assert summary["排名门槛(应办结数)"] == 10


# -- HTML ------------------------------------------------------------------------------------------------


def test_html_escapes_hostile_names():
    page = report.bulletin_to_html(hand_bulletin(), office="<b>中原区</b>")
    assert "<script" not in page.lower() and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "A&amp;B街道" in page
    assert "&lt;b&gt;中原区&lt;/b&gt;网格化治理工作周通报" in page


def test_html_is_self_contained():
    page = report.bulletin_to_html(hand_bulletin())
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert not re.search(r"<(link|script|img|iframe)\b", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    assert page.startswith("<!doctype html>") and '<meta charset="utf-8">' in page
    assert "@page { size: A4" in page


def test_html_shows_figures_ranks_and_changes():
    page = report.bulletin_to_html(hand_bulletin())
    assert "2026-W47（2026-11-16 至 2026-11-22）" in page
    assert "<td>1(上周2)</td>" in page                 # rank and last week's
    assert "<td>—</td>" in page                         # unranked / unknown rate
    assert "<td>75.0%</td><td>50.0%</td>" in page
    assert "<td>+2</td><td>+12.5</td>" in page          # received +2, 办结率 +12.5 points
    assert "<td>-1</td><td>—</td>" in page
    assert "较上周 +3" in page and "较上周 +15.0 个百分点" in page and "较上周 -1" in page
    assert "应办结数少于 10 件的社区不参与排名" in page
    assert "问题较多的微网格（前1名）" in page


# -- from the services, through the command line -----------------------------------------------------


@pytest.fixture
def week47(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    load(services, tmp_path, SIX)
    return services


def test_a_real_bulletin_round_trips_through_xlsx_and_html(week47):
    bulletin = workflows.weekly_bulletin(week47, "2026-W47", min_due=1)
    book = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(bulletin)))
    rows = rows_of(book["社区排名"])
    table = {r[rows[0].index("社区")]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert table["甲社区"]["排名"] == 1 and table["甲社区"]["办结率"] == 1.0 and table["甲社区"]["街道"] == "一街道"
    assert table["乙社区"]["排名"] == 2 and table["乙社区"]["超期(督办)"] == 2
    assert table["甲社区"]["上周排名"] is None          # no cases the week before: not ranked then
    page = report.bulletin_to_html(bulletin)
    assert "甲社区" in page and "75.0%" in page


def test_cli_writes_the_weekly_bulletin_as_xlsx_and_html(week47, cli, tmp_path):
    xlsx, page = tmp_path / "w47.xlsx", tmp_path / "w47.html"
    done = cli("report", "weekly", "--week", "2026-W47", "--out", str(xlsx), "--min-due", "1")
    assert done.returncode == 0, done.stderr
    assert f"2026-W47: received 6, completed 3, 2 communities; written to {xlsx}" in done.stdout
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["社区排名", "问题微网格", "汇总"]
    assert dict(rows_of(book["汇总"])[1:])["办结率"] == "75.0%"
    done = cli("report", "weekly", "--week", "2026-w47", "--out", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "2026-W47" in text and "乙社区" in text and not re.search(r"https?://", text)


def test_cli_refuses_other_report_formats_and_bad_weeks_with_one_line(week47, cli, tmp_path):
    pdf = tmp_path / "w47.pdf"
    done = cli("report", "weekly", "--week", "2026-W47", "--out", str(pdf))
    assert done.returncode == 2
    assert done.stderr == f"error: cannot tell the report format of '{pdf}'; use an .xlsx or .html file name\n"
    assert not pdf.exists()
    done = cli("report", "weekly", "--week", "2026-47", "--out", str(tmp_path / "w.xlsx"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "week '2026-47' is not an ISO week; write it like 2026-W47" in done.stderr
    assert not (tmp_path / "w.xlsx").exists()
    done = cli("report", "weekly", "--week", "9999-W52", "--out", str(tmp_path / "w.xlsx"))
    assert done.returncode == 2 and "outside the years 1970–2100" in done.stderr and "Traceback" not in done.stderr
