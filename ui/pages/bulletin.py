"""周报: the weekly bulletin (周通报) of an ISO week, as tables, Excel and a printable page."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from gis.errors import InputError
from gis.io import bulletin as report
from ui import auth, cached, state, widgets

user = auth.require_user()
st.title("周通报")
last_week = state.today() - timedelta(days=7)
weeks = [f"{d.isocalendar().year}-W{d.isocalendar().week:02d}"
         for d in (last_week - timedelta(weeks=i) for i in range(0, 26))]
c1, c2 = st.columns([2, 1])
week = c1.selectbox("周次", weeks, index=0, key="bulletin_week",
                    help="ISO 周：周一至周日。默认上一整周。")
min_due = c2.number_input("参与排名的最少应办结数", min_value=1, max_value=200, value=5, key="bulletin_min_due")
try:
    with st.spinner("生成周通报…"):
        bulletin = cached.bulletin(user, week, int(min_due))
except InputError as exc:
    st.error(str(exc))
    st.stop()

t, p = bulletin.totals, bulletin.previous_totals
st.caption(f"{bulletin.since} 至 {bulletin.until}")
cols = st.columns(5)
cols[0].metric("受理", f"{t['received']:.0f}", f"{t['received'] - p['received']:+.0f}")
cols[1].metric("办结", f"{t['completed']:.0f}", f"{t['completed'] - p['completed']:+.0f}")
for col, key, label in ((cols[2], "completion_rate", "办结率"), (cols[3], "on_time_rate", "按期办结率")):
    delta = None if t[key] is None or p[key] is None else f"{(t[key] - p[key]) * 100:+.1f} 个百分点"
    col.metric(label, widgets.pct(t[key]), delta)
cols[4].metric("超期(督办)", f"{t['overdue']:.0f}", f"{t['overdue'] - p['overdue']:+.0f}", delta_color="inverse")

if widgets.may_export(user):
    d1, d2 = st.columns(2)
    rows = len(bulletin.communities)
    widgets.download_button(user, "下载 Excel", report.bulletin_to_xlsx(bulletin),
                            file_name=f"周通报_{bulletin.week}.xlsx", key="bulletin_xlsx", what="bulletin", rows=rows,
                            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", container=d1)
    widgets.download_button(user, "下载打印版 (HTML)", report.bulletin_to_html(bulletin).encode("utf-8"),
                            file_name=f"周通报_{bulletin.week}.html", mime="text/html", key="bulletin_html",
                            what="bulletin", rows=rows, container=d2)

st.subheader("各社区办理情况排名")
table = report.community_table(bulletin)
for col in ("办结率", "按期办结率"):
    table[col] = table[col].map(widgets.pct)
table["办结率较上周(百分点)"] = table["办结率较上周(百分点)"].round(1)
st.dataframe(table, hide_index=True, width="stretch", height=420)
st.caption(f"应办结数少于 {bulletin.min_due} 件的社区不参与排名（排名为空）。")

st.subheader("问题较多的微网格")
worst = bulletin.worst_micro[list(report.MICRO_COLUMNS_ZH)].rename(columns=report.MICRO_COLUMNS_ZH)
worst["办结率"] = worst["办结率"].map(widgets.pct)
st.dataframe(pd.DataFrame(worst), hide_index=True, width="stretch")
