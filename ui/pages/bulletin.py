"""通报: the bulletin of a week (周通报), month (月汇总) or year (年度考核) for the district or one
street, all channels or the 12345 hotline; tables, the map figure, Excel, HTML and PDF."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gis import workflows
from gis.errors import GisError
from gis.io import bulletin as report
from ui import auth, cached, state, widgets

KINDS_ZH = {"week": "周", "month": "月", "year": "年"}
PERIOD_FIELD_ZH = {"week": "周次", "month": "月份", "year": "年度"}
PERIODS_OFFERED = {"week": 26, "month": 24, "year": 5}


def period_options(kind: str) -> list[str]:
    """The last complete periods of ``kind``, newest first."""
    options, period = [], workflows.last_complete_period(kind, today=state.today())
    for _ in range(PERIODS_OFFERED[kind]):
        options.append(period.label)
        period = period.previous()
    return options


def label_of(kind: str, label: str) -> str:
    return workflows.bulletin_period(kind, label).label_zh


user = auth.require_user()
st.title("通报")
grids = widgets.active_grids_or_stop(user)
home = widgets.home_unit(user, grids)
levels = dict(zip(grids["code"], grids["level"]))
names = dict(zip(grids["code"], grids["name"]))
streets = grids[grids["level"] == "street"].sort_values("code")
street_names = dict(zip(streets["code"], streets["name"]))

c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 2, 2])
if levels.get(home) == "district":
    # "" is 全区: a selectbox shows None as no choice at all
    street = c1.selectbox("范围", ["", *street_names], format_func=lambda c: street_names.get(c, "全区"),
                          key="bulletin_scope") or None
else:
    # a street office (or anyone below it) issues only its own street's bulletin
    street = cached.grid_tree(user).ancestor(home, "street") if home else None
    if street is None:
        st.error("您的账号范围不在任何街道之内，无法生成通报。")
        st.stop()
    c1.selectbox("范围", [street], format_func=lambda c: names.get(c, c), key="bulletin_scope_own",
                 disabled=True)
source = c2.selectbox("数据来源", list(workflows.BULLETIN_SOURCES_ZH), format_func=workflows.BULLETIN_SOURCES_ZH.get,
                      key="bulletin_source")
kind = c3.selectbox("通报类型", list(KINDS_ZH), format_func=lambda k: f"{workflows.PERIOD_KINDS_ZH[k]}（{KINDS_ZH[k]}）",
                    key="bulletin_kind")
period = c4.selectbox(PERIOD_FIELD_ZH[kind], period_options(kind), format_func=lambda p: label_of(kind, p),
                      key=f"bulletin_{kind}", help="默认最近一个完整的周期（ISO 周：周一至周日）。")
min_due = c5.number_input("参与排名的最少应办结数", min_value=1, max_value=500, value=5, key="bulletin_min_due")
try:
    with st.spinner("生成通报…"):
        bulletin = cached.bulletin(user, kind, period, street, source, int(min_due))
except GisError as exc:
    st.error(str(exc))
    st.stop()

st.subheader(bulletin.title)
st.caption(f"{bulletin.since} 至 {bulletin.until}")
issued = bulletin.issued
st.markdown(f"发文单位：**{bulletin.issuer}** · 印发日期：{issued.year}年{issued.month}月{issued.day}日 · "
            f"数据来源：{bulletin.source_zh} · 对比{bulletin.previous_zh}（{bulletin.previous_label}）")

cards = report.kpi_cards(bulletin)
for col, card in zip(st.columns(len(cards)), cards):
    col.metric(card.label, card.value, card.delta, help=card.help,
               delta_color="off" if card.tone in ("neutral", None) else "inverse" if card.worse_when_up else "normal")

if widgets.may_export(user):
    d1, d2, d3, _ = st.columns([1, 1, 1, 3])
    rows = len(bulletin.communities)
    stem = f"{workflows.PERIOD_KINDS_ZH[kind]}_{bulletin.office}_{bulletin.week}"
    widgets.download_button(user, "导出 Excel", report.bulletin_to_xlsx(bulletin), file_name=f"{stem}.xlsx",
                            key="bulletin_xlsx", what="bulletin", rows=rows, container=d1,
                            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    widgets.download_button(user, "导出 HTML", report.bulletin_to_html(bulletin).encode("utf-8"),
                            file_name=f"{stem}.html", mime="text/html", key="bulletin_html", what="bulletin",
                            rows=rows, container=d2)
    # the PDF is printed only when asked for (a few seconds for a district)
    widgets.download_button(user, "导出 PDF", lambda: report.bulletin_to_pdf(bulletin), file_name=f"{stem}.pdf",
                            mime="application/pdf", key="bulletin_pdf", what="bulletin", rows=rows, container=d3)

left, right = st.columns(2)
for col, title, units in ((left, "排名前列", bulletin.best), (right, "排名靠后", bulletin.lagging)):
    col.markdown(f"**{title}**")
    shown = report.ranked_list(units)
    if street:
        shown = shown.drop(columns="街道")
    for rate in ("办结率", "按期办结率"):
        shown[rate] = shown[rate].map(widgets.pct)
    if shown.empty:
        col.caption("无参与排名的社区")
    else:
        col.dataframe(shown, hide_index=True, width="stretch")

if bulletin.map_png:
    st.image(bulletin.map_png, caption=f"{bulletin.office}各社区办结率（{bulletin.since} 至 {bulletin.until}）")

st.subheader("各社区办理情况排名")
table = report.community_table(bulletin)
if street:
    table = table.drop(columns="街道")
for col in ("办结率", "按期办结率"):
    table[col] = table[col].map(widgets.pct)
widgets.table(table, hide_index=True, width="stretch", height=420)
st.caption(f"应办结数少于 {bulletin.min_due} 件的社区不参与排名（排名为空，排名说明中注明）。")

st.subheader("问题较多的微网格")
worst = bulletin.worst_micro.reindex(columns=list(report.MICRO_COLUMNS_ZH)).rename(columns=report.MICRO_COLUMNS_ZH)
worst["办结率"] = worst["办结率"].map(widgets.pct)
widgets.table(pd.DataFrame(worst), hide_index=True, width="stretch")
