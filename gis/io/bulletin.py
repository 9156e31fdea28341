"""Bulletins (周通报, 月汇总, 年度考核) as an Excel workbook, a printable HTML page and a PDF (pure).

Takes a :class:`gis.workflows.Bulletin` (its map figure already drawn, as PNG bytes);
knows nothing about the database. The PDF is the HTML page printed by WeasyPrint.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import pandas as pd

from gis.core import metrics
from gis.errors import GisError

_PERIOD_ZH = {"week": "周", "month": "月", "year": "年"}
_RATES = ("completion_rate", "on_time_rate")
_CHANGES_PT = ("completion_rate_change", "on_time_rate_change")
KPI_KEYS = ("received", "completed", "completion_rate", "on_time_rate", "satisfaction_rate", "overdue")
MICRO_COLUMNS_ZH = {"name": "微网格", "community": "所属社区", "received": "受理数", "open": "未办结",
                    "overdue": "超期(督办)", "completion_rate": "办结率"}
LIST_COLUMNS_ZH = {"rank": "排名", "name": "社区", "street": "街道", "due": "应办结数",
                   "completion_rate": "办结率", "on_time_rate": "按期办结率", "overdue": "超期(督办)"}
SHEETS = ("汇总", "社区排名", "先进与后进", "问题微网格", "地图")


def community_columns_zh(kind: str = "week") -> dict[str, str]:
    """The ranking's columns and their Chinese headers; changes name the previous period (较上周 …)."""
    before = metrics.PREVIOUS_ZH[kind]
    return {
        "rank": "排名", "rank_note": "排名说明", "street": "街道", "name": "社区", "received": "受理数",
        "completed": "办结数", "due": "应办结数", "completion_rate": "办结率", "on_time_rate": "按期办结率",
        "overdue": "超期(督办)", "received_change": f"受理数较{before}",
        "completion_rate_change": f"办结率较{before}(百分点)",
        "on_time_rate_change": f"按期办结率较{before}(百分点)", "previous_rank": f"{before}排名",
    }


#: The weekly bulletin's headers.
COMMUNITY_COLUMNS_ZH = community_columns_zh("week")


def _points(value: Any) -> float | None:
    """A rate change (fraction) in percentage points, rounded as shown; zero is 0.0, never -0.0."""
    if value is None or pd.isna(value):
        return None
    return round(float(value) * 100, 1) + 0.0


def community_table(bulletin) -> pd.DataFrame:
    """The per-community table with Chinese headers (rates as fractions, changes in points)."""
    columns = community_columns_zh(bulletin.kind)
    table = pd.DataFrame(bulletin.communities).reindex(columns=list(columns))
    if table["rank_note"].isna().all():
        table["rank_note"] = table["rank"].isna().map(
            {True: f"应办结不足 {bulletin.min_due} 件，不参与排名", False: ""})
    for change in _CHANGES_PT:
        table[change] = table[change].map(_points).astype("Float64")
    return table.rename(columns=columns)


def ranked_list(units: pd.DataFrame) -> pd.DataFrame:
    """The best or the lagging communities with Chinese headers (rates as fractions)."""
    return pd.DataFrame(units).reindex(columns=list(LIST_COLUMNS_ZH)).rename(columns=LIST_COLUMNS_ZH)


def _summary(bulletin) -> list[tuple[str, Any, str | None]]:
    """(item, value, number format) rows of the 汇总 sheet."""
    t = bulletin.totals
    satisfaction = metrics.satisfaction_rate(t)
    issued = bulletin.issued
    return [
        ("发文单位", bulletin.issuer, None), ("印发日期", "" if issued is None else str(issued), None),
        ("通报类型", metrics.PERIOD_KINDS_ZH[bulletin.kind], None), ("统计周期", bulletin.week, None),
        ("起止", f"{bulletin.since} 至 {bulletin.until}", None),
        ("数据来源", bulletin.source_zh, None),
        ("受理数", int(t["received"]), None), ("办结数", int(t["completed"]), None),
        ("应办结数", int(t["due"]), None),
        ("办结率", t["completion_rate"], "0.0%"), ("按期办结率", t["on_time_rate"], "0.0%"),
        ("满意率", satisfaction, "0.0%"), ("超期(督办)", int(t["overdue"]), None),
        ("排名门槛(应办结数)", bulletin.min_due, None),
    ]


def kpi_cards(bulletin) -> list[metrics.KpiCard]:
    """The bulletin's KPI cards (受理, 办结, 办结率, 按期办结率, 满意率, 超期) against the previous period."""
    return metrics.kpi_cards(bulletin.totals, bulletin.previous_totals, keys=KPI_KEYS)


def _widths(sheet, headers: list[str], *, minimum: int = 8) -> None:
    for col, header in enumerate(headers, start=1):
        letter = sheet.cell(row=1, column=col).column_letter
        sheet.column_dimensions[letter].width = max(minimum, len(str(header)) * 2 + 2)


def _percent(sheet, headers: list[str], rows: int, names: tuple[str, ...]) -> None:
    for col, header in enumerate(headers, start=1):
        if header in names:
            for row in range(2, rows + 2):
                sheet.cell(row=row, column=col).number_format = "0.0%"


def bulletin_to_xlsx(bulletin) -> bytes:
    """An .xlsx workbook with the sheets of :data:`SHEETS` (汇总, 社区排名, 先进与后进, 问题微网格, 地图):
    rates as percent cells, changes in points, column widths set; the map figure on 地图."""
    from openpyxl.drawing.image import Image

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        summary = _summary(bulletin)
        pd.DataFrame([(k, v) for k, v, _ in summary], columns=["项目", "数值"]).to_excel(
            xl, sheet_name="汇总", index=False)
        sheet = xl.sheets["汇总"]
        sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 22, 36
        for row, (_, _, fmt) in enumerate(summary, start=2):
            if fmt:
                sheet.cell(row=row, column=2).number_format = fmt

        communities = community_table(bulletin)
        communities.to_excel(xl, sheet_name="社区排名", index=False)
        sheet = xl.sheets["社区排名"]
        headers = list(communities.columns)
        _widths(sheet, headers)
        sheet.column_dimensions[sheet.cell(row=1, column=headers.index("排名说明") + 1).column_letter].width = 30
        _percent(sheet, headers, len(communities), ("办结率", "按期办结率"))
        for col, header in enumerate(headers, start=1):
            if "百分点" in header:
                for row in range(2, len(communities) + 2):
                    sheet.cell(row=row, column=col).number_format = "+0.0;-0.0;0.0"
        sheet.freeze_panes = "A2"

        best, lagging = ranked_list(bulletin.best), ranked_list(bulletin.lagging)
        lists = pd.concat([best.assign(类别="排名前列"), lagging.assign(类别="排名靠后")], ignore_index=True)
        lists = lists[["类别", *LIST_COLUMNS_ZH.values()]]
        lists.to_excel(xl, sheet_name="先进与后进", index=False)
        sheet = xl.sheets["先进与后进"]
        _widths(sheet, list(lists.columns))
        _percent(sheet, list(lists.columns), len(lists), ("办结率", "按期办结率"))

        worst = bulletin.worst_micro.reindex(columns=list(MICRO_COLUMNS_ZH)).rename(columns=MICRO_COLUMNS_ZH)
        worst.to_excel(xl, sheet_name="问题微网格", index=False)
        sheet = xl.sheets["问题微网格"]
        _widths(sheet, list(worst.columns))
        _percent(sheet, list(worst.columns), len(worst), ("办结率",))

        sheet = xl.book.create_sheet("地图")
        png = bulletin.map_png
        if png:
            sheet["A1"] = f"{bulletin.office}各社区办结率（{bulletin.since} 至 {bulletin.until}）"
            image = Image(io.BytesIO(png))
            scale = 960 / image.width
            image.width, image.height = 960, int(image.height * scale)
            sheet.add_image(image, "A3")
        else:
            sheet["A1"] = "本通报未附地图"
    return buf.getvalue()


def _change_cell(value: Any, *, points: bool, higher_is_better: bool | None) -> str:
    """A change as a table cell, coloured by direction; zero is a neutral 0 / 0.0."""
    change = None if value is None or pd.isna(value) else float(value) * (100 if points else 1)
    decimals = 1 if points else 0
    text = metrics.format_change(change, decimals=decimals)
    tone = metrics.change_tone(change, decimals=decimals, higher_is_better=higher_is_better)
    return f'<td class="{tone or "none"}">{text or "—"}</td>'


def _rank_cell(r: Any, e) -> str:
    if pd.isna(r.rank):
        note = r.rank_note if isinstance(getattr(r, "rank_note", None), str) and r.rank_note else ""
        return f'<td>—<div class="rank-note">{e(note)}</div></td>' if note else "<td>—</td>"
    return f"<td>{int(r.rank)}</td>"


def _list_rows(units: pd.DataFrame, e, *, streets: bool) -> str:
    rows = []
    for r in units.itertuples(index=False):
        rank = "—" if pd.isna(r.rank) else str(int(r.rank))
        street = f"<td>{e(str(r.street or ''))}</td>" if streets else ""
        rows.append(f"<tr><td>{rank}</td><td>{e(str(r.name))}</td>{street}"
                    f"<td>{int(r.due)}</td><td>{metrics.format_rate(r.completion_rate)}</td>"
                    f"<td>{metrics.format_rate(r.on_time_rate)}</td><td>{int(r.overdue)}</td></tr>")
    return "".join(rows) or '<tr><td colspan="7">无参与排名的社区</td></tr>'


def bulletin_to_html(bulletin, *, office: str | None = None) -> str:
    """A self-contained printable page (A4, no external assets, the map embedded as a data: PNG);
    all text escaped. ``office`` overrides the bulletin's office (title and 发文单位)."""
    e = html.escape
    before = bulletin.previous_zh
    issuer = bulletin.issuer if office is None else office
    office = bulletin.office if office is None else office
    title = office + bulletin.title.removeprefix(bulletin.office)  # the title starts with the office
    issued = bulletin.issued
    source = bulletin.source_zh
    previous_label = bulletin.previous_label
    # a street's own bulletin names no street beside each community: they are all its own
    streets = bulletin.scope_code is None
    street_th = "<th>街道</th>" if streets else ""

    cards = "".join(
        f'<div class="card"><div class="label">{e(c.label)}</div><div class="value">{e(c.value)}</div>'
        f'<div class="delta {c.tone or "none"}">较{before} {e(c.delta or "—")}</div></div>'
        for c in kpi_cards(bulletin))
    rows = []
    for r in bulletin.communities.itertuples(index=False):
        prev = "—" if pd.isna(r.previous_rank) else str(int(r.previous_rank))
        street = f"<td>{e(str(r.street or ''))}</td>" if streets else ""
        rows.append(
            f"<tr>{_rank_cell(r, e)}{street}"
            f"<td>{e(str(r.name))}</td>"
            f"<td>{r.received}</td><td>{r.completed}</td><td>{r.due}</td>"
            f"<td>{metrics.format_rate(r.completion_rate)}</td><td>{metrics.format_rate(r.on_time_rate)}</td>"
            f"<td>{r.overdue}</td>"
            f"{_change_cell(r.received_change, points=False, higher_is_better=None)}"
            f"{_change_cell(r.completion_rate_change, points=True, higher_is_better=True)}"
            f"{_change_cell(getattr(r, 'on_time_rate_change', None), points=True, higher_is_better=True)}"
            f"<td>{prev}</td></tr>")
    worst = "".join(
        f"<tr><td>{e(str(r.name))}</td><td>{e(str(r.community or ''))}</td><td>{r.received}</td><td>{r.open}</td>"
        f"<td>{r.overdue}</td><td>{metrics.format_rate(r.completion_rate)}</td></tr>"
        for r in bulletin.worst_micro.itertuples(index=False)) or '<tr><td colspan="6">本期无案件</td></tr>'
    png = bulletin.map_png
    figure = ""
    if png:
        data = base64.b64encode(png).decode("ascii")
        figure = (f'<h2>各社区办结率分布</h2><figure><img alt="{e(office)}各社区办结率地图" '
                  f'src="data:image/png;base64,{data}"></figure>')
    list_head = (f"<thead><tr><th>排名</th><th>社区</th>{street_th}<th>应办结数</th><th>办结率</th><th>按期办结率</th>"
                 "<th>超期(督办)</th></tr></thead>")
    previous_note = f"（{before}：{e(str(previous_label))}）" if previous_label else ""
    issued_text = "" if issued is None else f"{issued.year}年{issued.month}月{issued.day}日"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(title)} {e(bulletin.week)}</title>
<style>
@page {{ size: A4; margin: 14mm 12mm; @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 9px; color: #888; }} }}
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif;
        color: #222; margin: 0 auto; max-width: 190mm; font-size: 12px; }}
h1 {{ text-align: center; font-size: 22px; margin: 0.2em 0 0.2em; color: #b22222; letter-spacing: 1px; }}
h2 {{ font-size: 15px; border-left: 4px solid #1f4e8c; padding-left: 6px; margin: 1.2em 0 0.5em; }}
.sub {{ text-align: center; color: #444; margin-bottom: 0.3em; }}
.issuer {{ display: flex; justify-content: space-between; border-bottom: 2px solid #b22222; padding-bottom: 4px;
           margin-bottom: 1em; font-size: 12px; }}
.cards {{ display: flex; gap: 6px; margin-bottom: 1em; }}
.card {{ flex: 1; border: 1px solid #ccd; border-radius: 6px; padding: 6px 2px; text-align: center; }}
.label {{ color: #666; font-size: 11px; }} .value {{ font-size: 18px; font-weight: bold; }}
.delta {{ font-size: 10px; }}
.good {{ color: #1a7f37; }} .bad {{ color: #c62828; }} .neutral, .none {{ color: #777; }}
.lists {{ display: flex; gap: 10px; }} .lists > div {{ flex: 1; }}
table {{ border-collapse: collapse; width: 100%; font-size: 10.5px; margin-bottom: 1em; }}
th, td {{ border: 1px solid #bbb; padding: 2px 4px; text-align: center; }}
th {{ background: #eef2f8; }}
thead {{ display: table-header-group; }}
tr {{ page-break-inside: avoid; }}
.rank-note {{ font-size: 9px; color: #8a6d3b; white-space: nowrap; }}
figure {{ margin: 0; text-align: center; page-break-inside: avoid; }}
figure img {{ width: 100%; }}
.note {{ font-size: 10.5px; color: #555; }}
</style></head><body>
<h1>{e(title)}</h1>
<div class="sub">{e(bulletin.week)}（{bulletin.since} 至 {bulletin.until}）· 数据来源：{e(source)}</div>
<div class="issuer"><span>发文单位：{e(issuer)}</span><span>印发日期：{e(issued_text)}</span></div>
<div class="cards">{cards}</div>
<h2>排名前列与排名靠后的社区</h2>
<div class="lists">
<div><h3>排名前列</h3><table>{list_head}<tbody>{_list_rows(bulletin.best, e, streets=streets)}</tbody></table></div>
<div><h3>排名靠后</h3><table>{list_head}<tbody>{_list_rows(bulletin.lagging, e, streets=streets)}</tbody></table></div>
</div>
{figure}
<h2>各社区办理情况排名</h2>
<table><thead><tr><th>排名</th>{street_th}<th>社区</th><th>受理数</th><th>办结数</th><th>应办结数</th><th>办结率</th>
<th>按期办结率</th><th>超期(督办)</th><th>受理数较{before}</th><th>办结率较{before}</th><th>按期办结率较{before}</th>
<th>{before}排名</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>问题较多的微网格（前{len(bulletin.worst_micro)}名）</h2>
<table><thead><tr><th>微网格</th><th>所属社区</th><th>受理数</th><th>未办结</th><th>超期(督办)</th><th>办结率</th></tr></thead>
<tbody>{worst}</tbody></table>
<p class="note">办结率 = 办结数 / 应办结数（已结案或已到办理时限的案件）；按期办结率 = 在时限内结案数 / 应办结数；
满意率 =（满意 + 基本满意）/ 已回访案件数。应办结数少于 {bulletin.min_due} 件的社区不参与排名。
较{before}的变化以百分点计{previous_note}。数据为统计期末（{bulletin.until} 24 时）的状态。</p>
</body></html>"""


def bulletin_to_pdf(bulletin, *, office: str | None = None) -> bytes:
    """The printable page of :func:`bulletin_to_html` as a PDF (A4), printed by WeasyPrint.

    Raises
    ------
    GisError
        When WeasyPrint or the Pango library it needs is not installed.
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint found no Pango library
        raise GisError(f"cannot make a PDF: WeasyPrint is not usable ({exc})",
                       fix="run ./dev.sh setup (installs weasyprint and Pango), or write .xlsx or .html") from None
    return weasyprint.HTML(string=bulletin_to_html(bulletin, office=office)).write_pdf()
