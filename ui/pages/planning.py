"""网格规划: a planner takes a draft of one street, community or tertiary grid, edits its
micro-grids (upload a file, draw, reshape, split, merge) with live validation, weighs the
what-if on the last 12 months of cases, and commits it with an effective date; any two
versions can be compared.

The edited grids live in the browser session until 保存草稿 (or 提交, which saves first);
every job runs as the signed-in planner (gis.workflows), and nothing here touches the live
tables but the commit.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import maps, workflows
from gis.core import access, grid_edits
from gis.core.hierarchy import LEVEL_NAMES_ZH, LEVELS
from gis.core.versions import CHANGES_ZH
from gis.errors import GisError, InputError, ValidationError
from gis.maps import planning as planning_maps
from ui import auth, cached, state, widgets

MAP_HEIGHT = 560
VIEWS = ("编辑与校验", "试算", "提交", "版本对比")
COLOR_LABELS = planning_maps.COLOR_MODES
VERSION_STATUS_ZH = {"active": "当前", "retired": "已停用", "draft": "草稿"}
#: Most changed grids drawn on the version comparison map (a whole-district change is listed, not drawn).
MAX_DIFF_FEATURES = 3000

user = auth.require_user(access.PLAN)
st.title("网格规划")
services = cached.for_user(user)
grids = widgets.active_grids_or_stop(user)
tree = cached.grid_tree(user)
names = dict(zip(grids["code"], grids["name"]))
ss = st.session_state


def _level_zh(level: str) -> str:
    return LEVEL_NAMES_ZH.get(level, level)


def _local_time(value) -> str:
    if value is None or pd.isna(value):
        return "—"
    return pd.Timestamp(value).tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M")


def _error(prefix: str, exc: GisError) -> None:
    """A job's refusal, in Chinese first (the job's own message follows: it names the row and the fix)."""
    st.error(f"{prefix}：{exc}")


# -- the draft: open one, or take a new one ------------------------------------------------------


def _forget_draft(draft_id: int) -> None:
    for key in [k for k in ss if isinstance(k, str) and k.startswith("plan_") and k.endswith(f"_{draft_id}")]:
        del ss[key]
    if ss.get("plan_draft") == draft_id:
        del ss["plan_draft"]


def _choose_area() -> str | None:
    """Street, community and tertiary grid boxes below the user's scope; the deepest chosen is
    the area (the scope itself when it is one of those levels and nothing below is chosen)."""
    home = widgets.home_unit(user, grids)
    level_of = dict(zip(grids["code"], grids["level"]))
    home_level = level_of.get(home)
    chosen = home if home_level in workflows.DRAFT_LEVELS else None
    if chosen is not None:
        st.caption(f"范围：{names.get(home, home)}（{_level_zh(home_level)}）")
    parent = home
    below = [lv for lv in workflows.DRAFT_LEVELS
             if home_level not in LEVELS or LEVELS.index(lv) > LEVELS.index(home_level)]
    for col, level in zip(st.columns(3), below):
        options = sorted(c for c in tree.children.get(parent, []) if level_of.get(c) == level)
        if not options:
            break
        picked = col.selectbox(_level_zh(level), ["", *options], key=f"plan_pick_{level}",
                               format_func=lambda c, lv=level: names.get(c, c) if c else f"（不选{_level_zh(lv)}）")
        if not picked:
            break
        chosen = parent = picked
    return chosen


def _resume() -> None:
    if ss.get("plan_resume") is None:
        ss.pop("plan_draft", None)
        st.query_params.pop("draft", None)
    else:
        ss["plan_draft"] = ss["plan_resume"]


def _draft_picker() -> workflows.Draft | None:
    """The open drafts (one may be resumed) and the form that takes a new one; the draft worked on."""
    open_drafts = workflows.drafts(services)
    if "plan_draft" not in ss and str(st.query_params.get("draft", "")).isdigit():
        ss["plan_draft"] = int(st.query_params["draft"])  # a link to the draft, or a reload
    current = ss.get("plan_draft")
    by_id = {d.id: d for d in open_drafts}
    if current is not None and current not in by_id:
        _forget_draft(current)
        current = None
    proposed = ss.pop("plan_proposed", None)
    if proposed:
        st.success(proposed)
    with st.expander("草稿" if current else "草稿：新建或继续", expanded=current is None):
        if open_drafts:
            widgets.table(pd.DataFrame({
                "草稿编号": [d.id for d in open_drafts],
                "范围": [f"{d.area_name}（{_level_zh(d.area_level)}）" for d in open_drafts],
                "基于版本": [d.base_version_id for d in open_drafts],
                "编制人": [d.author for d in open_drafts],
                "创建时间": [_local_time(d.created_at) for d in open_drafts],
                "说明": [d.note for d in open_drafts]}))
            ids = [d.id for d in open_drafts]
            # the draft worked on is the truth (a new draft, a link): the box follows it, and a
            # choice in the box reaches it through the callback before the script runs
            if ss.get("plan_resume") != current:
                ss["plan_resume"] = current
            st.selectbox("继续草稿", [None, *ids], key="plan_resume", on_change=_resume,
                         format_func=lambda i: "（不打开）" if i is None else
                         f"草稿 {i}：{by_id[i].area_name} · {by_id[i].author}")
        else:
            st.caption("暂无草稿。")
        st.markdown("**新建草稿**：选择街道、社区或三级网格")
        area = _choose_area()
        note = st.text_input("草稿说明（可选）", key="plan_new_note")
        if st.button("新建草稿", type="primary", disabled=area is None, key="plan_take"):
            try:
                taken = workflows.take_draft(services, area, note=note)
            except GisError as exc:
                _error("未能新建草稿", exc)
            else:
                ss["plan_draft"] = taken.id
                ss.pop("plan_committed", None)
                st.rerun()
        _proposal(area)
    chosen = by_id.get(ss.get("plan_draft"))
    if chosen is None:
        st.query_params.pop("draft", None)
    else:
        st.query_params["draft"] = str(chosen.id)
    return chosen


def _proposal(area: str | None) -> None:
    """均衡方案: a balanced proposal for a community or tertiary grid, opened as a new draft."""
    level = tree.level.get(area) if area else None
    st.markdown("**或生成均衡方案**（按标准地址的楼栋户数与近 12 个月案件量重划微网格，作为新草稿打开）")
    c1, c2 = st.columns(2)
    low = c1.number_input("每个微网格最少户数", min_value=1, value=40, step=5, key="plan_min_households")
    high = c2.number_input("每个微网格最多户数", min_value=1, value=100, step=5, key="plan_max_households")
    can = level in ("community", "grid")
    if st.button("生成方案", disabled=not can or low >= high, key="plan_propose",
                 help=None if can else "请先选择社区或三级网格"):
        try:
            with st.spinner("正在生成方案（可能需要一分钟）…"):
                proposal, proposed = workflows.propose_draft(services, area, min_households=int(low),
                                                             max_households=int(high))
        except GisError as exc:
            _error("未能生成方案", exc)
            return
        ss["plan_draft"] = proposed.id
        ss.pop("plan_committed", None)
        cv = "" if proposal.cv_before is None or proposal.cv_after is None else \
            f"，案件量变异系数 {proposal.cv_before:.2f} → {proposal.cv_after:.2f}"
        ss["plan_proposed"] = f"已生成方案（草稿 {proposed.id}）：{len(proposal.grids)} 个微网格{cv}。"
        st.rerun()


# -- the edited grids of the draft -----------------------------------------------------------------


def _load(draft_id: int, *, fresh: bool = False) -> workflows.DraftArea:
    """The draft's area as stored, and the session's edit of it (started from it)."""
    key = f"plan_area_{draft_id}"
    if fresh or key not in ss:
        ss[key] = workflows.draft_area(services, draft_id)
    if fresh or f"plan_edit_{draft_id}" not in ss:
        ss[f"plan_edit_{draft_id}"] = ss[key].grids.copy()
        ss[f"plan_rev_{draft_id}"] = ss.get(f"plan_rev_{draft_id}", 0) + 1
        ss[f"plan_log_{draft_id}"] = []
        ss[f"plan_dirty_{draft_id}"] = False
        ss[f"plan_clear_selection_{draft_id}"] = True
    return ss[key]


def _apply(draft_id: int, edited: gpd.GeoDataFrame, what: str) -> None:
    ss[f"plan_edit_{draft_id}"] = edited.reset_index(drop=True)
    ss[f"plan_rev_{draft_id}"] = ss.get(f"plan_rev_{draft_id}", 0) + 1
    ss[f"plan_log_{draft_id}"] = [*ss.get(f"plan_log_{draft_id}", []), what]
    ss[f"plan_dirty_{draft_id}"] = True
    ss[f"plan_clear_selection_{draft_id}"] = True  # the box is cleared before it is drawn next run


def _problems(draft_id: int, edit: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """check_draft of the current edit, once per edit."""
    rev = ss[f"plan_rev_{draft_id}"]
    cached_problems = ss.get(f"plan_problems_{draft_id}")
    if cached_problems is None or cached_problems[0] != rev:
        try:
            found = workflows.check_draft(services, draft_id, edit)
        except InputError as exc:
            _error("无法校验当前修改", exc)
            return None
        ss[f"plan_problems_{draft_id}"] = cached_problems = (rev, found)
    return cached_problems[1]


def _what_if(draft_id: int, edit: gpd.GeoDataFrame) -> workflows.WhatIf | None:
    """The what-if of the current edit, once per edit."""
    rev = ss[f"plan_rev_{draft_id}"]
    found = ss.get(f"plan_whatif_{draft_id}")
    if found is None or found[0] != rev:
        with st.spinner("正在按近 12 个月的案件试算…"):
            try:
                result = workflows.what_if(services, draft_id, grids=edit)
            except InputError as exc:
                _error("无法试算当前修改", exc)
                return None
        ss[f"plan_whatif_{draft_id}"] = found = (rev, result)
    return found[1]


def _problem_table(problems: gpd.GeoDataFrame, grid_names: dict[str, str]) -> pd.DataFrame:
    """The problems in Chinese: severity, kind, the grids; topology's English sentence is left out."""
    return pd.DataFrame({
        "严重程度": problems["severity"].map(lambda s: grid_edits.SEVERITIES_ZH.get(s, s)),
        "问题": problems["kind"].map(lambda k: grid_edits.PROBLEM_KINDS_ZH.get(k, k)),
        "网格": problems["code"].map(lambda c: grid_names.get(c, names.get(c, c)) if c is not None else None),
        "网格编码": problems["code"],
        "相关网格编码": problems["other_code"],
        "面积(平方米)": pd.to_numeric(problems["area_m2"], errors="coerce").round(1),
    })


def _edit_section(d: workflows.Draft, area: workflows.DraftArea, basemap: str) -> None:
    edit = ss[f"plan_edit_{d.id}"]
    rev = ss[f"plan_rev_{d.id}"]
    micro = edit[edit["level"] == "micro"].reset_index(drop=True)
    edit_names = dict(zip(edit["code"], edit["name"]))

    # a click on the map (previous run) adds the grid to the selection before the box is drawn
    clicked = ss.pop(f"plan_click_{d.id}", None)
    sel_key = f"plan_selected_{d.id}"
    current = [c for c in ss.get(sel_key, []) if c in set(micro["code"])]
    if ss.pop(f"plan_clear_selection_{d.id}", False):
        current = []
    if clicked and clicked in set(micro["code"]) and clicked not in current:
        current.append(clicked)
    ss[sel_key] = current

    left, right = st.columns([3, 1.2], gap="medium")
    with right:
        color_by = st.radio("着色", list(COLOR_LABELS), format_func=COLOR_LABELS.get, key="plan_color",
                            horizontal=True)
        selected = st.multiselect("选择微网格（也可在地图上点击）", list(micro["code"]), key=sel_key,
                                  format_func=lambda c: planning_maps.short_label(edit_names.get(c, c), d.area_name),
                                  placeholder="未选择")
        st.caption("拆分：选一个微网格，用“画拆分线”横穿它；调整边界：选一个微网格，拖动其蓝色边界的节点"
                   "（编辑图形）或画新边界；合并：选两个以上相邻的微网格。")
    problems = _problems(d.id, edit)
    values = workers = None
    if color_by in ("load", "worker"):
        result = _what_if(d.id, edit)
        if result is not None:
            per_grid = result.per_grid.set_index("code")
            values = micro["code"].map(per_grid["per_worker_week_after"]).astype(float).tolist()
            workers = micro["code"].map(per_grid["worker_after"]).where(lambda s: s.notna(), None).tolist()
    editable = None
    if len(selected) == 1:
        editable = micro.loc[micro["code"] == selected[0], "geometry"].iloc[0]
    with left:
        m = planning_maps.draft_map(micro, color_by=color_by, values=values, workers=workers, problems=problems,
                                    selected=selected, editable=editable, area=area.area, area_name=d.area_name,
                                    basemap=basemap)
        out = st_folium(m, height=MAP_HEIGHT, use_container_width=True, key=f"plan_map_{d.id}_{rev}_{basemap}",
                        returned_objects=["all_drawings", "last_active_drawing"]) or {}
        st.caption(f"地图上共 {len(micro)} 个微网格" + ("（已修改，未保存）" if ss.get(f"plan_dirty_{d.id}") else "")
                   + "。")
    # st_folium keeps returning the last clicked grid: only a new click selects (so it can be unselected)
    feature = out.get("last_active_drawing") or {}
    code = (feature.get("properties") or {}).get("code")
    if code and code != ss.get(f"plan_last_click_{d.id}"):
        ss[f"plan_last_click_{d.id}"] = code
        if code in set(micro["code"]) and code not in selected:
            ss[f"plan_click_{d.id}"] = code
            st.rerun()
    shapes = planning_maps.drawn_shapes(out.get("all_drawings"), basemap=basemap)
    lines = [g for g in shapes if g.geom_type in ("LineString", "MultiLineString")]
    polygons = [g for g in shapes if g.geom_type in ("Polygon", "MultiPolygon")]

    with right:
        b1, b2 = st.columns(2)
        split = b1.button("沿所画线拆分", disabled=len(selected) != 1, key="plan_split", width="stretch")
        merge = b2.button("合并所选", disabled=len(selected) < 2, key="plan_merge", width="stretch")
        b3, b4 = st.columns(2)
        reshape = b3.button("按所画图形调整", disabled=len(selected) != 1, key="plan_reshape", width="stretch")
        reset = b4.button("撤销全部修改", disabled=not ss.get(f"plan_dirty_{d.id}"), key="plan_reset",
                          width="stretch")
        try:
            if split:
                if not lines:
                    st.warning("请先用“画拆分线”在地图上画一条横穿该微网格的线。")
                else:
                    _apply(d.id, grid_edits.split_grid(edit, selected[0], lines[-1]),
                           f"拆分 {edit_names.get(selected[0], selected[0])}")
                    st.rerun()
            if merge:
                _apply(d.id, grid_edits.merge_grids(edit, selected),
                       "合并 " + "、".join(edit_names.get(c, c) for c in selected))
                st.rerun()
            if reshape:
                if not polygons:
                    st.warning("请先拖动所选微网格的节点（编辑图形，再点“保存”），或画一个新边界。")
                else:
                    _apply(d.id, grid_edits.reshape_grid(edit, selected[0], polygons[-1]),
                           f"调整边界 {edit_names.get(selected[0], selected[0])}")
                    st.rerun()
        except InputError as exc:
            _error("未能修改", exc)
        if reset:
            _load(d.id, fresh=True)
            st.rerun()
        _upload(d, edit)
        log = ss.get(f"plan_log_{d.id}", [])
        if log:
            st.caption("本次修改：" + "；".join(log))

    st.subheader("校验")
    if problems is not None:
        errors = int((problems["severity"] == "error").sum())
        warnings = int((problems["severity"] == "warning").sum())
        if not len(problems):
            st.success("校验通过：无重叠、无空隙，全部微网格在上级网格内。")
        elif errors:
            st.error(f"有 {errors} 个错误、{warnings} 个警告（地图上红色标出），修正后才能保存和提交。")
        else:
            st.warning(f"有 {warnings} 个警告（地图上红色标出），可以保存。")
        widgets.table(_problem_table(problems, edit_names), empty="无问题。")
    if st.button("保存草稿", type="primary", key="plan_save"):
        _save(d, edit)


def _save(d: workflows.Draft, edit: gpd.GeoDataFrame) -> bool:
    try:
        with st.spinner("正在保存草稿…"):
            workflows.save_draft(services, d.id, edit)
    except ValidationError as exc:
        count = int((exc.problems["severity"] == "error").sum()) if getattr(exc, "problems", None) is not None else 0
        st.error(f"草稿未保存：有 {count} 个错误，请先修正（见校验）。" if count else f"草稿未保存：{exc}")
        return False
    except InputError as exc:
        _error("草稿未保存", exc)
        return False
    _load(d.id, fresh=True)
    st.success("草稿已保存。")
    return True


def _upload(d: workflows.Draft, edit: gpd.GeoDataFrame) -> None:
    # the app's CSS names the uploader's button for photos (工单处置): here it takes a boundary file
    st.html("<style>.st-key-plan-upload [data-testid='stFileUploaderDropzone'] button::after"
            " { content: '选择文件'; }</style>")
    upload = st.container(key="plan-upload").file_uploader("上传边界文件", type=list(workflows.UPLOAD_TYPES), key=f"plan_upload_{d.id}",
                              help="本区域的微网格（可含三级网格）：GeoJSON、GeoPackage，或压缩成 .zip 的 Shapefile；"
                                   "WGS-84 坐标；属性 code、name、level、parent_code、households。文件中的网格替换本区域同层级的网格。")
    if upload is None or ss.get(f"plan_upload_done_{d.id}") == upload.file_id:
        return
    ss[f"plan_upload_done_{d.id}"] = upload.file_id
    try:
        layer, notes = workflows.read_grid_upload(upload.getvalue(), upload.name, area_code=d.area_code,
                                                  area_level=d.area_level)
        levels = set(layer["level"])
        kept = edit[~edit["level"].isin(levels)]
        combined = gpd.GeoDataFrame(pd.concat([kept, layer[[c for c in edit.columns if c in layer.columns]]],
                                              ignore_index=True), geometry="geometry", crs="EPSG:4326")
        workflows.check_draft(services, d.id, combined)  # a file for another area is refused here
    except InputError as exc:
        _error(f"未能载入 {upload.name}", exc)
        return
    _apply(d.id, combined, f"载入文件 {upload.name}（{len(layer)} 个网格）")
    if notes:
        ss[f"plan_upload_notes_{d.id}"] = notes
    st.rerun()


# -- what-if ---------------------------------------------------------------------------------------


def _balance_metric(col, label: str, before: float | None, after: float | None, *, digits: int = 2) -> None:
    def text(v):
        return "—" if v is None else f"{v:.{digits}f}"
    change = None if before is None or after is None else round(after - before, digits)
    delta = None if not change else f"{change:+.{digits}f}"
    col.metric(label, f"{text(before)} → {text(after)}", delta, delta_color="inverse", border=True,
               help="调整前 → 调整后；越小越均衡。最大/最小：有网格为 0 时无法计算（—）。")


def _pair(a, b, digits: int = 0) -> str:
    def one(v):
        if v is None or pd.isna(v):
            return "—"
        return f"{float(v):,.{digits}f}"
    return f"{one(a)} / {one(b)}"


def _what_if_section(d: workflows.Draft, area: workflows.DraftArea, basemap: str) -> None:
    edit = ss[f"plan_edit_{d.id}"]
    st.caption("把近 12 个月的案件按草稿的边界重新落格（在临时表中计算，现有工单与统计不变）。")
    if st.button("试算", type="primary", key="plan_run_whatif"):
        ss[f"plan_show_whatif_{d.id}"] = True
    if not ss.get(f"plan_show_whatif_{d.id}"):
        return
    result = _what_if(d.id, edit)
    if result is None:
        return
    st.markdown(f"按 {result.since:%Y-%m-%d} 至 {result.until:%Y-%m-%d} 的 **{result.cases:,}** 件案件试算；"
                f"在办工单中将改变网格或责任人的 **{len(result.moves):,}** 件。")
    cols = st.columns(4)
    b = result.balance
    _balance_metric(cols[0], "案件数变异系数", b["cases"]["before"]["cv"], b["cases"]["after"]["cv"])
    _balance_metric(cols[1], "案件数最大/最小", b["cases"]["before"]["max_min"], b["cases"]["after"]["max_min"],
                    digits=1)
    _balance_metric(cols[2], "户数变异系数", b["households"]["before"]["cv"], b["households"]["after"]["cv"])
    _balance_metric(cols[3], "户数最大/最小", b["households"]["before"]["max_min"],
                    b["households"]["after"]["max_min"], digits=1)
    per = result.per_grid
    change_zh = {"kept": "不变", **CHANGES_ZH}
    table = pd.DataFrame({
        "网格": per["name"].map(lambda n: planning_maps.short_label(n, d.area_name)),
        "编码": per["code"],
        "变化": per["change"].map(lambda c: change_zh.get(c, c)),
        "户数(前/后)": [_pair(a, b) for a, b in zip(per["households_before"], per["households_after"])],
        "案件(前/后)": [_pair(a, b) for a, b in zip(per["cases_before"], per["cases_after"])],
        "专职网格员(前/后)": [f"{a or '—'} / {b or '—'}" for a, b in zip(per["worker_before"], per["worker_after"])],
        "每人每周(前/后)": [_pair(a, b, 1) for a, b in zip(per["per_worker_week_before"],
                                                          per["per_worker_week_after"])],
        "转出/转入在办": [f"{a} / {b}" for a, b in zip(per["open_moving_out"], per["open_moving_in"])],
    })
    order = per["change"].map(lambda c: 0 if c != "kept" else 1).to_numpy()
    table = table.iloc[order.argsort(kind="stable")]
    st.markdown("**各微网格调整前后**")
    widgets.table(table, key="plan_whatif_table")
    st.markdown("**改变归属的区域**")
    tree_micro = set(tree.micro_under(d.area_code))
    before = grids[grids["code"].isin(tree_micro)]
    after = edit[edit["level"] == "micro"]
    diff = planning_maps.changed_areas_map(result.changed_areas, before=before, after=after,
                                           names={**names, **dict(zip(edit["code"], edit["name"]))},
                                           area_name=d.area_name, basemap=basemap)
    st_folium(diff, height=420, use_container_width=True, key=f"plan_diff_{d.id}_{ss[f'plan_rev_{d.id}']}",
              returned_objects=[])
    if len(result.moves):
        st.markdown("**将改变网格或责任人的在办工单**")
        moves = result.moves
        widgets.table(pd.DataFrame({
            "来源": moves["source"], "编号": moves["external_id"],
            "原微网格": moves["before_code"].map(lambda c: names.get(c, c)),
            "新微网格": moves["after_code"].map(lambda c: edit.set_index("code")["name"].get(c, names.get(c, c))),
            "原责任人": moves["before_assignee"], "新责任人": moves["after_assignee"]}))


# -- commit ----------------------------------------------------------------------------------------


def _commit_section(d: workflows.Draft) -> None:
    edit = ss[f"plan_edit_{d.id}"]
    st.caption("提交后，草稿的边界替换本区域的现行边界：在办工单按新边界改派并记录，已办结的工单和历史统计不变；"
               "原版本保留，可随时恢复。")
    with st.form(f"plan_commit_form_{d.id}"):
        effective = st.date_input("生效日期", value=state.today(), key=f"plan_effective_{d.id}")
        note = st.text_input("说明", value=d.note, key=f"plan_note_{d.id}")
        submitted = st.form_submit_button("提交", type="primary")
    if not submitted:
        return
    with st.status("正在提交…", expanded=True) as status:
        if ss.get(f"plan_dirty_{d.id}"):
            st.write("保存草稿的修改…")
            if not _save(d, edit):
                status.update(label="未提交：草稿有错误", state="error")
                return
        st.write("替换边界、改派在办工单…")
        try:
            result = workflows.commit_draft(services, d.id, effective_date=effective, note=note)
        except workflows.StaleDraft as exc:
            status.update(label="未提交：草稿已过期", state="error")
            st.error(exc.message)
            changes = exc.changes
            widgets.table(pd.DataFrame({"网格": changes["name"], "编码": changes["code"],
                                        "层级": changes["level"].map(_level_zh), "变化": changes["change_zh"]}))
            return
        except GisError as exc:
            status.update(label="未提交", state="error")
            _error("未提交", exc)
            return
        status.update(label=f"已提交：版本 {result.version_id}", state="complete")
    ss["plan_committed"] = {"version_id": result.version_id, "area_code": d.area_code, "area_name": d.area_name,
                            "moves": result.activation.moves if result.activation else pd.DataFrame(),
                            "staff": result.activation.staff_to_reassign if result.activation else pd.DataFrame(),
                            "counts": result.counts}
    _forget_draft(d.id)
    st.rerun()


def _committed_notice(basemap: str) -> None:
    done = ss.get("plan_committed")
    if not done:
        return
    st.success(f"已提交：{done['area_name']}的新边界已生效，版本 {done['version_id']}。")
    micro = grids[grids["code"].isin(set(tree.micro_under(done["area_code"])))]
    area = grids[grids["code"] == done["area_code"]]
    moves, staff = done["moves"], done["staff"]
    c1, c2, c3 = st.columns(3)
    c1.metric("现有微网格", f"{len(micro)} 个", border=True)
    c2.metric("改派的在办工单", f"{len(moves)} 件", border=True)
    c3.metric("需重新安排的人员", f"{len(staff)} 人", border=True)
    m = planning_maps.draft_map(micro, color_by="households", area=area, area_name=done["area_name"],
                                basemap=basemap, draw=False)
    st_folium(m, height=420, use_container_width=True, key=f"plan_committed_map_{done['version_id']}_{basemap}",
              returned_objects=[])
    st.caption(f"地图上共 {len(micro)} 个微网格（版本 {done['version_id']}）。")
    if len(moves):
        st.markdown("**已改派的在办工单**")
        widgets.table(pd.DataFrame({
            "来源": moves["source"], "编号": moves["external_id"],
            "原微网格": moves["from_micro"].map(lambda c: names.get(c, c)),
            "新微网格": moves["to_micro"].map(lambda c: names.get(c, c)),
            "原责任人": moves["from_assignee"], "新责任人": moves["to_assignee"]}))
    if len(staff):
        st.markdown("**撤销网格的在岗人员（需重新安排）**")
        widgets.table(pd.DataFrame({"原网格编码": staff["grid_code"], "岗位": staff["role"], "姓名": staff["name"],
                                    "电话": staff["phone"]}))
    if st.button("关闭", key="plan_committed_close"):
        ss.pop("plan_committed", None)
        st.rerun()


# -- versions --------------------------------------------------------------------------------------


def _versions_section(basemap: str) -> None:
    versions = workflows.grid_versions(services, drafts=False)
    if len(versions) < 2:
        st.caption("只有一个版本，暂无可对比的版本。")
        widgets.table(_versions_table(versions))
        return
    widgets.table(_versions_table(versions))
    _restore(versions)
    ids = [int(v) for v in versions["id"]]
    labels = {int(r["id"]): f"版本 {int(r['id'])} · {VERSION_STATUS_ZH.get(r['status'], r['status'])} · "
                            f"{r['note'] or '—'}" for _, r in versions.iterrows()}
    c1, c2 = st.columns(2)
    a = c1.selectbox("版本 A（之前）", ids, index=1, format_func=labels.get, key="plan_version_a")
    b = c2.selectbox("版本 B（之后）", ids, index=0, format_func=labels.get, key="plan_version_b")
    if a == b:
        st.info("请选择两个不同的版本。")
        return
    with st.spinner("正在对比…"):
        diff = workflows.diff_versions(services, a, b)
    counts = diff.counts()
    cols = st.columns(len(counts) + 1)
    for col, (kind, n) in zip(cols, counts.items()):
        col.metric(CHANGES_ZH[kind], f"{n} 个", border=True)
    cols[-1].metric("改变网格或责任人的在办工单", f"{len(diff.cases)} 件", border=True)
    changes = diff.grids
    if len(changes) > MAX_DIFF_FEATURES:
        st.caption(f"变化的网格多于 {MAX_DIFF_FEATURES:,} 个，地图只画出微网格以上层级。")
        changes = changes[changes["level"] != "micro"]
    m = planning_maps.version_changes_map(changes, basemap=basemap)
    st_folium(m, height=460, use_container_width=True, key=f"plan_versions_map_{a}_{b}_{basemap}",
              returned_objects=[])
    widgets.table(pd.DataFrame({
        "网格": diff.grids["name"], "编码": diff.grids["code"], "层级": diff.grids["level"].map(_level_zh),
        "变化": diff.grids["change_zh"], "面积(平方米)": diff.grids["area_m2"].round(0),
        "变化面积(平方米)": pd.to_numeric(diff.grids["changed_m2"], errors="coerce").round(0),
        "户数(前/后)": [_pair(x, y) for x, y in zip(diff.grids["households_before"], diff.grids["households_after"])],
    }), empty="两个版本的网格相同。")
    if len(diff.cases):
        st.markdown("**改变网格或责任人的在办工单**")
        cases = diff.cases
        widgets.table(pd.DataFrame({"来源": cases["source"], "编号": cases["external_id"],
                                    "原微网格": cases["from_micro"], "新微网格": cases["to_micro"],
                                    "原责任人": cases["from_assignee"], "新责任人": cases["to_assignee"]}))


def _restore(versions: pd.DataFrame) -> None:
    """Undo: a retired version made the current one again (open cases move back, with events)."""
    done = ss.pop("plan_restored", None)
    if done:
        st.success(f"已恢复版本 {done[0]} 为当前版本，改派在办工单 {done[1]} 件。")
    retired = [int(v) for v in versions.loc[versions["status"] == "retired", "id"]]
    if not retired:
        return
    with st.expander("恢复旧版本（撤销提交）"):
        chosen = st.selectbox("恢复为当前版本", retired, key="plan_restore_id",
                              format_func=lambda v: f"版本 {v}")
        st.caption("在办工单回到该版本的网格并重新派遣，已办结的工单不变。")
        if st.button("恢复此版本", key="plan_restore"):
            try:
                with st.spinner("正在恢复…"):
                    activation = workflows.activate_version(services, chosen)
            except GisError as exc:
                _error("未能恢复", exc)
            else:
                ss["plan_restored"] = (chosen, len(activation.moves))
                st.rerun()


def _versions_table(versions: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "版本": versions["id"], "状态": versions["status"].map(lambda s: VERSION_STATUS_ZH.get(s, s)),
        "生效日期": versions["effective_date"].astype(str).where(versions["effective_date"].notna(), None),
        "编制人": versions["author"], "范围": versions["scope_name"], "说明": versions["note"],
        "微网格数": versions["micro"]})


# -- the page ----------------------------------------------------------------------------------------

with st.sidebar:
    st.subheader("地图")
    basemap = st.selectbox("底图", list(maps.BASEMAPS), index=list(maps.BASEMAPS).index("none"),
                           format_func=lambda k: maps.BASEMAPS[k].label, key="plan_basemap")

_committed_notice(basemap)
draft = _draft_picker()
view = st.radio("视图", VIEWS, horizontal=True, key="plan_view", label_visibility="collapsed")
if view == "版本对比":
    _versions_section(basemap)
elif draft is None:
    st.info("请新建或打开一个草稿。")
else:
    try:
        area = _load(draft.id)
    except InputError:  # committed or discarded meanwhile (another session)
        _forget_draft(draft.id)
        st.rerun()
    head, discard = st.columns([5, 1])
    head.subheader(f"草稿 {draft.id}：{draft.area_name}（{_level_zh(draft.area_level)}）")
    head.caption(f"基于版本 {draft.base_version_id} · 编制人 {draft.author} · 创建于 {_local_time(draft.created_at)}")
    if discard.button("放弃草稿", key="plan_discard"):
        workflows.discard_draft(services, draft.id)
        _forget_draft(draft.id)
        st.rerun()
    notes = ss.pop(f"plan_upload_notes_{draft.id}", [])
    if notes:
        st.caption("读取文件时的处理：" + "；".join(notes))
    if view == "编辑与校验":
        _edit_section(draft, area, basemap)
    elif view == "试算":
        _what_if_section(draft, area, basemap)
    else:
        _commit_section(draft)
