"""gis.report (pure) and ``python -m gis report weekly``: the weekly bulletin as .xlsx and .html."""

from __future__ import annotations

import base64
import io
import math
import re
import zlib
from datetime import date

import openpyxl
import pandas as pd
import pytest

from gis import workflows
from gis.io import bulletin as report
from tests.workflows.test_dashboards import SIX, load

HOSTILE = "<script>alert(1)</script>"
HOSTILE_ATTR = '"><img src=x onerror=alert(2)>'


def tiny_png() -> bytes:
    """A 4×3 PNG standing in for the map figure (the io layer only embeds what it is given)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def hand_bulletin(**overrides) -> workflows.Bulletin:
    """Two communities, one ranked and one not; a hostile community name; one unknown rate; a zero
    change of 按期办结率 (−0.0001 points: shown as a neutral 0.0)."""
    communities = pd.DataFrame({
        "code": ["C1", "C2"], "name": [HOSTILE, "乙社区"], "street": ["A&B街道", None],
        "rank": pd.array([1, None], dtype="Int64"), "previous_rank": pd.array([2, None], dtype="Int64"),
        "rank_note": ["", "应办结不足 10 件，不参与排名"],
        "received": [12, 3], "completed": [9, 0], "due": [12, 0], "on_time": [6, 0], "open": [3, 3],
        "overdue": [1, 2], "completion_rate": [0.75, math.nan], "on_time_rate": [0.5, math.nan],
        "received_change": [2, 0], "completion_rate_change": [0.125, math.nan],
        "on_time_rate_change": [-0.000001, math.nan],
    })
    worst = pd.DataFrame({"code": ["G2-01"], "name": [HOSTILE_ATTR], "community": ["乙社区"], "received": [2],
                          "open": [2], "overdue": [1], "completion_rate": [0.0]})
    totals = {"received": 15.0, "completed": 9.0, "due": 12.0, "on_time": 6.0, "open": 6.0, "overdue": 3.0,
              "completion_rate": 0.75, "on_time_rate": 0.5, "visited": 8.0, "satisfied": 6.0}
    previous = {"received": 12.0, "completed": 6.0, "due": 10.0, "on_time": 5.0, "open": 6.0, "overdue": 4.0,
                "completion_rate": 0.6, "on_time_rate": 0.5, "visited": 4.0, "satisfied": 3.0}
    fields = dict(week="2026-11", since=date(2026, 11, 1), until=date(2026, 11, 30), communities=communities,
                  worst_micro=worst, totals=totals, previous_totals=previous, min_due=10, kind="month",
                  office="一街道", scope_code="S1", source="hotline12345", issued=date(2026, 12, 2),
                  previous_label="2026-10", best=communities.iloc[:1], lagging=communities.iloc[:0],
                  map_png=tiny_png())
    fields.update(overrides)
    return workflows.Bulletin(**fields)


def rows_of(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def pdf_texts(pdf: bytes) -> tuple[list[str], list[str], set[str]]:
    """(titles of the document outline, font names, characters the fonts map to) of a WeasyPrint PDF:
    its objects sit in Flate streams; outline titles are UTF-16 hex strings; each embedded font has a
    ToUnicode map whose bfchar entries name the characters its glyphs draw."""
    streams = [zlib.decompress(m.group(1)) for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)]
    titles, fonts, chars = [], [], set()
    for s in streams:
        titles += [bytes.fromhex(h.decode()).decode("utf-16") for h in re.findall(rb"/Title <([0-9a-fA-F]+)>", s)]
        fonts += [f.decode() for f in re.findall(rb"/BaseFont /([^\s/<>\[\]]+)", s)]
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", s, re.S):
            chars |= {chr(int(u, 16)) for u in re.findall(rb"<[0-9a-fA-F]+> <([0-9a-fA-F]{4})>", block)}
    return titles, fonts, chars


# -- the community table ---------------------------------------------------------------------------


def test_community_table_has_chinese_headers_the_rank_note_and_changes_in_points():
    table = report.community_table(hand_bulletin())
    assert list(table.columns) == list(report.community_columns_zh("month").values())
    assert "办结率较上月(百分点)" in table.columns and "上月排名" in table.columns
    assert table["办结率较上月(百分点)"].iloc[0] == pytest.approx(12.5)
    assert table["按期办结率较上月(百分点)"].iloc[0] == 0.0
    assert str(table["按期办结率较上月(百分点)"].iloc[0]) == "0.0"     # never -0.0
    assert table["办结率"].iloc[0] == 0.75          # rates stay fractions
    assert table["社区"].iloc[0] == HOSTILE         # data, not markup: nothing escaped here
    assert list(table["排名说明"]) == ["", "应办结不足 10 件，不参与排名"]
    weekly = report.community_table(hand_bulletin(kind="week"))
    assert "办结率较上周(百分点)" in weekly.columns and "上周排名" in weekly.columns


# -- Excel ----------------------------------------------------------------------------------------------


def test_xlsx_has_chinese_sheets_percent_cells_and_the_rank_note():
    book = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(hand_bulletin())))
    assert book.sheetnames == ["汇总", "社区排名", "先进与后进", "问题微网格", "地图"]
    ranking = book["社区排名"]
    rows = rows_of(ranking)
    assert rows[0] == list(report.community_columns_zh("month").values())
    first = dict(zip(rows[0], rows[1]))
    assert first["排名"] == 1 and first["社区"] == HOSTILE and first["街道"] == "A&B街道"
    assert (first["受理数"], first["办结数"], first["应办结数"], first["超期(督办)"]) == (12, 9, 12, 1)
    assert first["办结率"] == 0.75 and first["按期办结率"] == 0.5
    assert first["办结率较上月(百分点)"] == pytest.approx(12.5) and first["上月排名"] == 2
    assert first["按期办结率较上月(百分点)"] == 0 and not math.copysign(1, first["按期办结率较上月(百分点)"]) < 0
    second = dict(zip(rows[0], rows[2]))
    assert second["排名"] is None and second["办结率"] is None and second["上月排名"] is None
    assert second["排名说明"] == "应办结不足 10 件，不参与排名"
    for header in ("办结率", "按期办结率"):
        col = rows[0].index(header) + 1
        assert [ranking.cell(row=r, column=col).number_format for r in (2, 3)] == ["0.0%", "0.0%"]
    col = rows[0].index("办结率较上月(百分点)") + 1
    assert ranking.cell(row=2, column=col).number_format == "+0.0;-0.0;0.0"
    assert ranking.cell(row=2, column=rows[0].index("受理数") + 1).number_format == "General"
    assert ranking.column_dimensions["B"].width == 30    # 排名说明 is readable
    assert ranking.freeze_panes == "A2"


def test_xlsx_names_the_office_the_best_units_the_worst_micro_grids_and_embeds_the_map():
    book = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(hand_bulletin())))
    summary = dict(rows_of(book["汇总"])[1:])
    assert (summary["发文单位"], summary["印发日期"], summary["通报类型"]) == ("一街道办事处", "2026-12-02", "月汇总")
    assert summary["统计周期"] == "2026-11" and summary["起止"] == "2026-11-01 至 2026-11-30"
    assert summary["数据来源"] == "12345热线"
    assert (summary["受理数"], summary["办结数"], summary["超期(督办)"]) == (15, 9, 3)
    assert (summary["办结率"], summary["按期办结率"], summary["满意率"]) == (0.75, 0.5, 0.75)
    rate_row = [r for r in book["汇总"].iter_rows(min_row=2) if r[0].value == "办结率"][0]
    assert rate_row[1].number_format == "0.0%"
    assert summary["排名门槛(应办结数)"] == 10
    lists = rows_of(book["先进与后进"])
    assert lists[0] == ["类别", "排名", "社区", "街道", "应办结数", "办结率", "按期办结率", "超期(督办)"]
    assert lists[1][:3] == ["排名前列", 1, HOSTILE] and len(lists) == 2
    worst = rows_of(book["问题微网格"])
    assert worst[0] == list(report.MICRO_COLUMNS_ZH.values())
    assert worst[1] == [HOSTILE_ATTR, "乙社区", 2, 2, 1, 0]
    assert len(book["地图"]._images) == 1
    without = openpyxl.load_workbook(io.BytesIO(report.bulletin_to_xlsx(hand_bulletin(map_png=None))))
    assert not without["地图"]._images and without["地图"]["A1"].value == "本通报未附地图"


# -- HTML ------------------------------------------------------------------------------------------------


def test_html_escapes_hostile_names():
    page = report.bulletin_to_html(hand_bulletin(scope_code=None), office="<b>中原区</b>")
    assert "<script" not in page.lower() and "<img src=x" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert "A&amp;B街道" in page
    assert "&lt;b&gt;中原区&lt;/b&gt;网格化治理工作12345热线月汇总" in page


def test_html_is_self_contained_with_the_map_embedded():
    page = report.bulletin_to_html(hand_bulletin())
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert not re.search(r"<(link|script|iframe)\b", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    assert page.startswith("<!doctype html>") and '<meta charset="utf-8">' in page
    assert "@page { size: A4" in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert images == ["data:image/png;base64," + base64.b64encode(hand_bulletin().map_png).decode()]
    assert "<img" not in report.bulletin_to_html(hand_bulletin(map_png=None))


def test_html_names_the_office_the_issue_date_the_period_and_the_source():
    page = report.bulletin_to_html(hand_bulletin())
    assert "<h1>一街道网格化治理工作12345热线月汇总</h1>" in page
    assert "发文单位：一街道办事处" in page and "印发日期：2026年12月2日" in page
    assert "2026-11（2026-11-01 至 2026-11-30）· 数据来源：12345热线" in page
    assert "<th>街道</th>" not in page           # a street's own bulletin: every community is its own
    assert "<th>街道</th>" in report.bulletin_to_html(hand_bulletin(scope_code=None))


def test_html_shows_figures_ranks_notes_and_neutral_zero_changes():
    page = report.bulletin_to_html(hand_bulletin())
    assert "<td>1</td>" in page
    assert '<td>—<div class="rank-note">应办结不足 10 件，不参与排名</div></td>' in page
    assert "<td>75.0%</td><td>50.0%</td>" in page
    assert '<td class="neutral">+2</td><td class="good">+12.5</td><td class="neutral">0.0</td><td>2</td>' in page
    assert '<td class="neutral">0</td><td class="none">—</td>' in page
    assert "-0.0" not in page
    assert "较上月 +3" in page and "较上月 +15.0 个百分点" in page and "较上月 -1" in page
    assert "满意率" in page and "75.0%" in page
    assert "应办结数少于 10 件的社区不参与排名" in page
    assert "问题较多的微网格（前1名）" in page
    assert "<h3>排名前列</h3>" in page and "无参与排名的社区" in page   # nobody lagging


# -- PDF -------------------------------------------------------------------------------------------------


def test_pdf_is_printed_from_the_html_with_chinese_glyphs():
    pdf = report.bulletin_to_pdf(hand_bulletin())
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    titles, fonts, chars = pdf_texts(pdf)
    assert "一街道网格化治理工作12345热线月汇总" in titles          # the h1, as the outline's first entry
    assert set("一街道网格化治理工作热线月汇总发文单位印发日期排名前列") <= chars
    assert any(re.search(r"CJK|WenQuanYi|SourceHan|Droid", f) for f in fonts), fonts


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
    assert book.sheetnames == list(report.SHEETS)
    assert dict(rows_of(book["汇总"])[1:])["办结率"] == 0.75
    assert len(book["地图"]._images) == 1
    done = cli("report", "weekly", "--week", "2026-w47", "--out", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "2026-W47" in text and "乙社区" in text and not re.search(r"https?://", text)
    assert "中原区网格化治理工作周通报" in text and 'src="data:image/png;base64,' in text


def test_cli_writes_a_streets_12345_monthly_bulletin_as_pdf(week47, cli, tmp_path):
    pdf = tmp_path / "m11.pdf"
    done = cli("report", "monthly", "--street", "S2", "--source", "hotline12345", "--month", "2026-11",
               "--out", str(pdf), "--min-due", "1")
    assert done.returncode == 0, done.stderr
    # 二街道 has K4, K5 (12345) and K6 (patrol): two cases, one community
    assert f"2026-11: received 2, completed 0, 1 communities; written to {pdf}" in done.stdout
    titles, _, chars = pdf_texts(pdf.read_bytes())
    assert "二街道网格化治理工作12345热线月汇总" in titles
    assert set("乙社区二街道") <= chars and "甲" not in chars     # the other street's community is not in it


def test_cli_writes_the_yearly_ranking_of_the_district(week47, cli, tmp_path):
    out = tmp_path / "y.html"
    done = cli("report", "yearly", "--year", "2026", "--out", str(out), "--min-due", "1")
    assert done.returncode == 0, done.stderr
    assert "2026: received 6," in done.stdout and "2 communities" in done.stdout
    text = out.read_text(encoding="utf-8")
    assert "中原区网格化治理工作年度考核" in text and "受理数较上年" in text


@pytest.mark.parametrize("args, message", [
    (("weekly", "--week", "2026-47"), "week '2026-47' is not an ISO week; write it like 2026-W47"),
    (("weekly", "--week", "9999-W52"), "outside the years 1970–2100"),
    (("monthly", "--month", "2026-13"), "field 'month': month '2026-13' is not a month; write it like 2026-11"),
    (("yearly", "--year", "26"), "field 'year': year '26' is not a year; write it like 2026"),
    (("monthly", "--street", "C1"), ("field 'street': street 'C1' is not a street of the active grids; "
                                     "give the code of a street you may see, e.g. S1")),
    (("weekly", "--source", "wechat"), ("field 'source': source 'wechat' is not a bulletin source; "
                                        "use all (every channel) or hotline12345 (the 12345 hotline)")),
])
def test_cli_refuses_bad_periods_streets_and_sources_with_one_line(week47, cli, tmp_path, args, message):
    out = tmp_path / "b.xlsx"
    done = cli("report", *args, "--out", str(out))
    assert done.returncode == 2, done.stdout
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert message in done.stderr
    assert not out.exists()


def test_cli_refuses_other_report_formats(week47, cli, tmp_path):
    docx = tmp_path / "w47.docx"
    done = cli("report", "weekly", "--week", "2026-W47", "--out", str(docx))
    assert done.returncode == 2
    assert done.stderr == (f"error: field '--out': cannot tell the report format of '{docx}'; "
                           "use an .xlsx, .html or .pdf file name\n")
    assert not docx.exists()
