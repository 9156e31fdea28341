"""The weekly bulletin (周通报) as an Excel workbook and a printable HTML page (pure).

Takes a :class:`gis.workflows.Bulletin`; knows nothing about the database.
"""

from __future__ import annotations

import html
import io
from typing import Any

import pandas as pd

from gis.core import metrics

COMMUNITY_COLUMNS_ZH = {
    "rank": "排名", "street": "街道", "name": "社区", "received": "受理数", "completed": "办结数",
    "due": "应办结数", "completion_rate": "办结率", "on_time_rate": "按期办结率", "overdue": "超期(督办)",
    "received_change": "受理数较上周", "completion_rate_change": "办结率较上周(百分点)", "previous_rank": "上周排名",
}
MICRO_COLUMNS_ZH = {"name": "微网格", "community": "所属社区", "received": "受理数", "open": "未办结",
                    "overdue": "超期(督办)", "completion_rate": "办结率"}
_RATES = ("completion_rate", "on_time_rate")


_pct = metrics.format_rate


def _signed(value: Any, *, points: bool = False) -> str:
    if value is None or pd.isna(value):
        return "—"
    value = value * 100 if points else value
    return f"{value:+.1f}" if points else f"{int(value):+d}"


def community_table(bulletin) -> pd.DataFrame:
    """The per-community table with Chinese headers (rates as fractions)."""
    table = bulletin.communities[list(COMMUNITY_COLUMNS_ZH)].copy()
    table["completion_rate_change"] = table["completion_rate_change"] * 100
    return table.rename(columns=COMMUNITY_COLUMNS_ZH)


def bulletin_to_xlsx(bulletin) -> bytes:
    """An .xlsx workbook: 社区排名, 问题微网格, 汇总 sheets."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xl:
        communities = community_table(bulletin)
        communities.to_excel(xl, sheet_name="社区排名", index=False)
        worst = bulletin.worst_micro[list(MICRO_COLUMNS_ZH)].rename(columns=MICRO_COLUMNS_ZH)
        worst.to_excel(xl, sheet_name="问题微网格", index=False)
        summary = pd.DataFrame([
            ("周次", bulletin.week), ("起止", f"{bulletin.since} 至 {bulletin.until}"),
            ("受理数", bulletin.totals["received"]), ("办结数", bulletin.totals["completed"]),
            ("办结率", _pct(bulletin.totals["completion_rate"])), ("按期办结率", _pct(bulletin.totals["on_time_rate"])),
            ("超期(督办)", bulletin.totals["overdue"]), ("排名门槛(应办结数)", bulletin.min_due),
        ], columns=["项目", "数值"])
        summary.to_excel(xl, sheet_name="汇总", index=False)
        sheet = xl.sheets["社区排名"]
        for col, header in enumerate(communities.columns, start=1):
            letter = sheet.cell(row=1, column=col).column_letter
            sheet.column_dimensions[letter].width = max(10, len(header) * 2 + 2)
            if header in ("办结率", "按期办结率"):
                for row in range(2, len(communities) + 2):
                    sheet.cell(row=row, column=col).number_format = "0.0%"
        sheet.freeze_panes = "A2"
    return buf.getvalue()


def bulletin_to_html(bulletin, *, office: str = "中原区") -> str:
    """A self-contained printable page (A4, no external assets); all text escaped."""
    e = html.escape
    t, p = bulletin.totals, bulletin.previous_totals

    cards = "".join(
        f'<div class="card"><div class="label">{e(c.label)}</div><div class="value">{e(c.value)}</div>'
        f'<div class="delta">较上周 {e(c.delta or "—")}</div></div>'
        for c in metrics.kpi_cards(t, p, keys=("received", "completed", "completion_rate", "on_time_rate",
                                                "overdue")))
    rows = []
    for r in bulletin.communities.itertuples(index=False):
        rank = "—" if pd.isna(r.rank) else str(int(r.rank))
        prev = "" if pd.isna(r.previous_rank) else f"(上周{int(r.previous_rank)})"
        rows.append(
            f"<tr><td>{rank}{e(prev)}</td><td>{e(str(r.street or ''))}</td><td>{e(r.name)}</td>"
            f"<td>{r.received}</td><td>{r.completed}</td><td>{r.due}</td><td>{_pct(r.completion_rate)}</td>"
            f"<td>{_pct(r.on_time_rate)}</td><td>{r.overdue}</td><td>{_signed(r.received_change)}</td>"
            f"<td>{_signed(r.completion_rate_change, points=True)}</td></tr>")
    worst = "".join(
        f"<tr><td>{e(r.name)}</td><td>{e(str(r.community or ''))}</td><td>{r.received}</td><td>{r.open}</td>"
        f"<td>{r.overdue}</td><td>{_pct(r.completion_rate)}</td></tr>"
        for r in bulletin.worst_micro.itertuples(index=False))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(office)}网格化治理周通报 {e(bulletin.week)}</title>
<style>
@page {{ size: A4; margin: 15mm; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; color: #222; margin: 2em; }}
h1 {{ text-align: center; font-size: 22px; margin-bottom: 0; }}
.sub {{ text-align: center; color: #666; margin-bottom: 1.5em; }}
.cards {{ display: flex; gap: 10px; margin-bottom: 1.5em; }}
.card {{ flex: 1; border: 1px solid #ccd; border-radius: 6px; padding: 8px; text-align: center; }}
.label {{ color: #666; font-size: 12px; }} .value {{ font-size: 22px; font-weight: bold; }} .delta {{ font-size: 11px; color: #888; }}
table {{ border-collapse: collapse; width: 100%; font-size: 12px; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 3px 6px; text-align: center; }}
th {{ background: #eef2f8; }}
tr {{ page-break-inside: avoid; }}
.note {{ font-size: 11px; color: #666; }}
</style></head><body>
<h1>{e(office)}网格化治理工作周通报</h1>
<div class="sub">{e(bulletin.week)}（{bulletin.since} 至 {bulletin.until}）</div>
<div class="cards">{cards}</div>
<h2>各社区办理情况排名</h2>
<table><thead><tr><th>排名</th><th>街道</th><th>社区</th><th>受理数</th><th>办结数</th><th>应办结数</th><th>办结率</th>
<th>按期办结率</th><th>超期(督办)</th><th>受理数较上周</th><th>办结率较上周</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
<h2>问题较多的微网格（前{len(bulletin.worst_micro)}名）</h2>
<table><thead><tr><th>微网格</th><th>所属社区</th><th>受理数</th><th>未办结</th><th>超期(督办)</th><th>办结率</th></tr></thead>
<tbody>{worst}</tbody></table>
<p class="note">办结率 = 办结数 / 应办结数（已结案或已到办理时限的案件）；按期办结率 = 在时限内结案数 / 应办结数。
应办结数少于 {bulletin.min_due} 件的社区不参与排名。</p>
</body></html>"""
