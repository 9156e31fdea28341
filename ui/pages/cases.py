"""工单: the filtered, searchable case list; a case's detail, map and history; export."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from gis import maps
from ui import cached, state, widgets

st.title("工单")
grids = widgets.active_grids_or_stop()

flt = widgets.sidebar_filter()
c1, c2, c3 = st.columns([3, 1, 1])
search = c1.text_input("搜索", placeholder="编号、地址、描述或责任人", key="case_search")
open_only = c2.toggle("只看未办结", key="case_open_only")
limit = c3.selectbox("最多显示", [500, 2000, 5000], index=1, key="case_limit")

found = cached.cases(flt, search, open_only, limit)
table = widgets.cases_table(found)
st.caption(f"共 {len(found)} 条{'（已达显示上限）' if len(found) >= limit else ''}")
picked = st.dataframe(table, hide_index=True, width="stretch", height=380, on_select="rerun",
                      selection_mode="single-row", key="case_table")
widgets.download_frame(table, name=f"工单_{flt.since}_{flt.until}", key="cases")

rows = picked.selection.rows if picked else []
if not rows:
    st.info("在表格中选择一行查看案件详情。")
    st.stop()

case = found.iloc[rows[0]]
incident, events = cached.incident_history(case["source"], case["external_id"])
st.subheader(f"案件 {incident['external_id']}")
left, right = st.columns([2, 3])
with left:
    path = [p["name"] for p in cached.grid_tree().path(incident["micro_code"])] if incident["micro_code"] else []
    shown = widgets.cases_table(found.iloc[[rows[0]]]).iloc[0]
    st.markdown(f"**网格**：{' › '.join(reversed(path)) if path else '未落入任何微网格（待人工分派）'}")
    if incident["micro_code"] is None and incident["suggested_code"]:
        st.caption(f"最近的微网格：{incident['suggested_code']}，距离 {incident['suggested_distance_m']:.0f} 米")
    for label in ("类别", "状态", "层级", "责任人", "受理时间", "办理时限", "结案时间", "地址"):
        st.text(f"{label}：{shown[label]}")
    st.text_area("描述", incident["description"], disabled=True, height=100)
with right:
    basemap = state.view_from_url().basemap  # the map page's choice, "none" for offline use
    basemap = basemap if basemap in maps.BASEMAPS else "osm"
    m = maps.base_map(center=(incident["lon"], incident["lat"]), zoom=17, basemap=basemap)
    maps.points_layer(found.iloc[[rows[0]]], name="案件位置", basemap=basemap).add_to(m)
    st_folium(m, height=300, use_container_width=True, key=f"case-map-{incident['id']}", returned_objects=[])
st.markdown("**办理记录**")
statuses = widgets.status_names()
st.dataframe({
    "时间": events["at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M"),
    "由": events["from_status"].map(lambda s: statuses.get(s, "—") if s else "—"),
    "至": events["to_status"].map(lambda s: statuses.get(s, s)),
    "操作人": events["actor"], "说明": events["note"]}, hide_index=True, width="stretch")
