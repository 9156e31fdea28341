"""工单: the filtered, searchable case list; a case's detail, map and history; export.

The reporter's phone shows as the role may see it (masked for roles that do not
handle cases); a role that may reveal it gets a button that shows it for the
selected case only, and the reveal is audited. 导出 CSV / 导出 Excel (roles that may
export; audited) write every matching case, not only the rows shown: the file is
generated when the button is clicked, streamed from the database in chunks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import maps, workflows
from gis.core import access
from gis.core.metrics import CaseFilter
from gis.errors import DatabaseBusy, DatabaseUnavailable, InputError, PermissionDenied
from ui import auth, cached, state, widgets


def _reveal(user: access.Principal, case: tuple[str, str]) -> None:
    """The button's callback (it runs before the page, so the page shows the number at once):
    the reporter's phone of ``case`` in clear, audited; kept for that case only."""
    try:
        phone = workflows.reveal_reporter(cached.for_user(user), source=case[0], external_id=case[1])
    except PermissionDenied as exc:
        st.session_state["reveal_notice"] = exc.message
    except InputError:  # gone, or moved out of the user's scope since the list was read
        st.session_state["reveal_notice"] = "该案件不存在或不在您的范围内。"
    except (DatabaseBusy, DatabaseUnavailable):
        st.session_state["reveal_notice"] = "数据库暂时不可用，请稍后重试。"
    else:
        st.session_state["revealed"] = (case, phone)


def _export_file(services: workflows.Services, flt: CaseFilter, fmt: str, search: str,
                 open_only: bool) -> Callable[[], bytes]:
    """The download's data, made when the button is clicked (Streamlit runs it in a thread of
    its own): every matching case streamed into a temporary file (memory: one chunk of rows),
    whose bytes Streamlit then serves (held once, as any download is)."""
    def make() -> bytes:
        with tempfile.TemporaryFile() as handle:
            workflows.export_cases(services, flt, handle, fmt=fmt, search=search or None, open_only=open_only)
            handle.seek(0)
            return handle.read()
    return make


def _export_buttons(user: access.Principal, flt: CaseFilter, search: str, open_only: bool) -> None:
    """导出 CSV / 导出 Excel: every case that matches (not only the rows shown), audited."""
    total = cached.case_count(user, flt, search, open_only)
    services = cached.for_user(user)
    name = workflows.case_export_file_name(services, flt, fmt="csv", search=search or None,
                                           open_only=open_only).removesuffix(".csv")
    st.caption(f"导出全部匹配的 {total:,} 条案件（不受显示上限限制），文件中写明筛选条件，"
               "报告人电话按您的角色显示。用 Excel 打开请选「导出 Excel」（CSV 中的编码会被 Excel 当作数字）。")
    columns = st.columns([1, 1, 4])
    for (fmt, label), container in zip((("csv", "导出 CSV"), ("xlsx", "导出 Excel")), columns):
        if fmt == "xlsx" and total > workflows.CASE_EXPORT_XLSX_MAX_ROWS:
            container.caption(f"超过 Excel 单表上限（{workflows.CASE_EXPORT_XLSX_MAX_ROWS:,} 行），"
                              "请缩小筛选范围或导出 CSV。")
            continue
        extension, mime = workflows.CASE_EXPORT_FORMATS[fmt]
        widgets.download_button(user, label, _export_file(services, flt, fmt, search, open_only),
                                file_name=f"{name}.{extension}", mime=mime, key=f"cases-{fmt}", what="cases",
                                rows=total, container=container)


user = auth.require_user()
st.title("工单")
grids = widgets.active_grids_or_stop(user)

flt = widgets.sidebar_filter(user)
c1, c2, c3 = st.columns([3, 1, 1])
search = c1.text_input("搜索", placeholder="编号、地址、描述或责任人", key="case_search")
open_only = c2.toggle("只看未办结", key="case_open_only")
limit = c3.selectbox("最多显示", [500, 2000, 5000], index=1, key="case_limit")

found = cached.cases(user, flt, search, open_only, limit)
table = widgets.cases_table(found, cached.grid_tree(user).name)
st.caption(f"共 {len(found)} 条{'（已达显示上限）' if len(found) >= limit else ''}")
picked = widgets.table(table, hide_index=True, width="stretch", height=380, on_select="rerun",
                      selection_mode="single-row", key="case_table")
if widgets.may_export(user):
    _export_buttons(user, flt, search, open_only)

rows = picked.selection.rows if picked else []
if rows:  # a row chosen in the table; the URL names it, so the view can be shared
    case_key = (found.iloc[rows[0]]["source"], found.iloc[rows[0]]["external_id"])
    st.query_params[state.CASE_PARAM] = "/".join(case_key)
elif "/" in st.query_params.get(state.CASE_PARAM, ""):
    # a link from the 工作台 or a shared URL: the case may lie outside the filtered list
    case_key = tuple(st.query_params[state.CASE_PARAM].split("/", 1))
else:
    st.info("在表格中选择一行查看案件详情。")
    st.stop()

try:
    incident, events = cached.incident_history(user, *case_key)
except InputError:
    st.warning("该案件不存在或不在您的范围内。")
    del st.query_params[state.CASE_PARAM]
    st.stop()
one = pd.DataFrame([incident])
st.subheader(f"案件 {incident['external_id']}")
left, right = st.columns([2, 3])
with left:
    path = [p["name"] for p in cached.grid_tree(user).path(incident["micro_code"])] if incident["micro_code"] else []
    shown = widgets.cases_table(one).iloc[0]
    st.markdown(f"**网格**：{' › '.join(reversed(path)) if path else '未落入任何微网格（待人工分派）'}")
    if incident["micro_code"] is None and incident["suggested_code"]:
        st.caption(f"最近的微网格：{incident['suggested_code']}，距离 {incident['suggested_distance_m']:.0f} 米")
    for label in ("类别", "状态", "层级", "责任人", "受理时间", "办理时限", "结案时间", "地址"):
        st.text(f"{label}：{shown[label]}")
    if incident.get("informed"):
        st.text(f"知会微网格长：{incident['informed']}")
    phone_line = st.empty()
    phone = incident.get("reporter_phone") or ""
    this_case = (incident["source"], incident["external_id"])
    revealed = st.session_state.get("revealed")  # (case, phone) of the one case revealed last
    if revealed and revealed[0] == this_case:
        phone = revealed[1]
    elif phone and user.masks_personal_data and user.can(access.REVEAL):
        st.button("显示完整号码", key=f"reveal-{incident['id']}", on_click=_reveal, args=(user, this_case),
                  help="显示该案件报告人的完整电话号码；此操作会记入审计日志。")
    notice = st.session_state.pop("reveal_notice", None)
    if notice:
        st.error(notice)
    phone_line.text(f"报告人电话：{phone or '—'}")
    st.text_area("描述", incident["description"], disabled=True, height=100)
with right:
    basemap = state.view_from_url().basemap  # the map page's choice, "none" for offline use
    basemap = basemap if basemap in maps.BASEMAPS else "osm"
    if incident["lon"] is None:  # an address-only ticket the register could not place yet
        st.info("该工单只有地址，尚未定位到楼栋，请在「待分派」中指定微网格。")
    else:
        m = maps.base_map(center=(incident["lon"], incident["lat"]), zoom=17, basemap=basemap)
        maps.points_layer(one, name="案件位置", basemap=basemap).add_to(m)
        st_folium(m, height=300, use_container_width=True, key=f"case-map-{incident['id']}", returned_objects=[])
st.markdown("**办理记录**")
statuses = widgets.status_names()
widgets.table({
    "时间": events["at"].dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M"),
    "由": events["from_status"].map(lambda s: statuses.get(s, "—") if s else "—"),
    "至": events["to_status"].map(lambda s: statuses.get(s, s)),
    "操作人": events["actor"], "说明": events["note"]}, hide_index=True, width="stretch")
