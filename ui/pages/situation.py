"""态势地图: heat layers, a choropleth with drill-down, KPI cards and the unit's card."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import maps
from gis.core.analytics import DEFAULT_P_VALUE, REPEAT_RULE
from gis.core.hierarchy import child_level
from gis.core.metrics import METRICS, METRICS_ZH
from gis.workflows import HEAT_LAYERS
from ui import auth, cached, charts, state, widgets, worklist

ZOOM_FOR_LEVEL = {"district": 12, "street": 14, "community": 15, "grid": 16, "micro": 17, "exclusive": 17}
#: The most cases drawn as points on the map of a tertiary grid or below (newest first).
MAP_CASE_POINTS = 3000

#: The morning view fits one 1440×900 screen: a compact header (title and breadcrumb beside the KPI
#: cards), the work list, then the map and the unit's card side by side; the trend is below.
MAP_HEIGHT = 420
CARD_TABLE_HEIGHT = 262
#: 高频点位 follow REPEAT_RULE and 热点's classes DEFAULT_P_VALUE (the normal p of the Gi* z-score, as
#: ArcGIS), corrected for the false discovery rate: the defaults of the jobs and of the CLI.
HOT_SPOTS_NOTE = "Gi* 统计，经错误发现率校正"

user = auth.require_user()
# tighter than Streamlit's defaults: less space above the page, smaller titles and KPI figures,
# and KPI labels, values and breadcrumb steps that wrap instead of being cut off with "…"
st.html("<style>"
        ".block-container { padding: 1rem 1.5rem 2rem 1.5rem; }"
        ".st-key-situation-head h1 { font-size: 1.55rem; padding: 0 0 0.3rem 0; }"
        ".st-key-situation-head [data-testid='stMetric'] { padding: 0.4rem 0.5rem 0.1rem 0.6rem !important; }"
        ".st-key-situation-head [data-testid='stMetric'] > div { padding: 0; }"
        ".st-key-situation-head [data-testid='stMetricLabel'] { width: 100%; }"
        ".st-key-situation-head [data-testid='stMetricLabel'] > div { flex: 1 1 auto; min-width: 0; }"
        ".st-key-situation-head [data-testid='stMetricLabel'] p { font-size: 0.78rem; line-height: 1.25; }"
        ".st-key-situation-head [data-testid='stMetricValue'] { font-size: 1.35rem; }"
        ".st-key-situation-head [data-testid='stMetric'] .stMarkdownEllipsis,"
        ".st-key-situation-head [data-testid='stMetric'] .stMarkdownEllipsis p"
        " { white-space: normal; overflow: visible; text-overflow: clip; }"
        ".st-key-situation-head [data-testid='stMetricDelta'] { font-size: 0.72rem; padding: 0 0.3rem; }"
        ".st-key-situation-head [data-testid='stMetricDelta'] { height: auto; }"

        ".st-key-situation-crumbs { row-gap: 0.15rem; column-gap: 0.3rem; }"
        ".st-key-situation-crumbs button { min-height: 1.7rem !important; padding: 0.05rem 0.45rem !important; }"
        ".st-key-situation-crumbs button p { font-size: 0.85rem; line-height: 1.3; white-space: normal;"
        " text-align: left; }"
        # a › between the steps
        ".st-key-situation-crumbs > div + div button p::before { content: '› '; color: #888; }"
        "</style>")
head = st.container(key="situation-head")
head_left, head_right = head.columns([1.6, 8], gap="small")
head_left.title("态势地图")
grids = widgets.active_grids_or_stop(user)

flt = widgets.sidebar_filter(user)
view = state.view_from_url()
with st.sidebar:
    st.subheader("地图")
    basemap = st.selectbox("底图", list(maps.BASEMAPS), index=list(maps.BASEMAPS).index(view.basemap)
                           if view.basemap in maps.BASEMAPS else 0,
                           format_func=lambda k: maps.BASEMAPS[k].label, key="v_basemap")
    metric = st.selectbox("分级设色指标", list(METRICS_ZH), index=list(METRICS_ZH).index(view.metric)
                          if view.metric in METRICS_ZH else 0, format_func=METRICS_ZH.get, key="v_metric")
    schemes = {"quantiles": "分位数", "natural_breaks": "自然断点"}
    scheme = st.radio("分级方法", list(schemes), index=list(schemes).index(view.scheme)
                      if view.scheme in schemes else 0, format_func=schemes.get, horizontal=True, key="v_scheme")
    # colour classes or heat over the units, never both at once (their colours would mix)
    map_mode = st.radio("图层", list(maps.MAP_MODES), index=list(maps.MAP_MODES).index(view.layers)
                        if view.layers in maps.MAP_MODES else 0, format_func=maps.MAP_MODES.get, horizontal=True,
                        key="v_layers")
state.view_to_url(state.MapView(basemap=basemap, metric=metric, scheme=scheme, layers=map_mode))

by_code = grids.set_index("code")
# the user's scope (the district for those who see it all): the view starts there and goes no higher
home = widgets.home_unit(user, grids)
if home is None:
    st.info("您的账号范围内没有可在地图上显示的网格。")
    st.stop()
# a unit is any grid of the user's: the nested levels drill down, an exclusive grid (专属网格) is a
# unit of its own, with nothing below it
unit = flt.unit if flt.unit in by_code.index and by_code.at[flt.unit, "level"] in ZOOM_FOR_LEVEL else home
unit_level = by_code.at[unit, "level"]
level = None if unit_level == "exclusive" else child_level(unit_level)
# the unfiltered view of the district is the whole district; of a smaller scope, that scope
whole = by_code.at[home, "level"] == "district"

# breadcrumb: district › street › community …; the steps above the user's scope are shown, not links
path = cached.grid_tree(user).path(unit)
if unit_level == "exclusive" and len(path) == 1:  # a floating exclusive grid: reached from the home unit
    path = path + cached.grid_tree(user).path(home)
above_home = {step["code"] for step in cached.grid_tree(user).path(home)} - {home}
# the steps wrap onto as many lines as they need beside the KPI cards; a name that repeats its
# parent's (帝湖花园东社区第10网格 under 帝湖花园东社区) shows the rest (第10网格), the full name in its help
crumbs = head_left.container(horizontal=True, gap=None, key="situation-crumbs")
parent_name = None
for step in reversed(path):
    code = step["code"]
    label = f"{widgets.short_name(step['name'], parent_name)}（{widgets.level_name(step['level'])}）"
    where = "当前所在" if code == unit else ("超出您的账号范围" if code in above_home else "返回此级")
    if crumbs.button(label, key=f"crumb-{code}", disabled=code == unit or code in above_home,
                     type="tertiary" if code != unit else "secondary", wrap=True,
                     help=f"{step['name']}（{widgets.level_name(step['level'])}）：{where}"):
        state.filter_to_url(replace(flt, unit=None if code == home else code))
        st.rerun()
    parent_name = step["name"]

unit_flt = replace(flt, unit=None if unit == home and whole else unit)
within = None if unit == home and whole else unit
with st.spinner("汇总数据…"):
    data = cached.situation(user, unit_flt, level, within)
widgets.kpi_cards(unit_flt, data.kpis, data.series, container=head_right, caption=False)
head_left.caption(f"{unit_flt.since} 至 {unit_flt.until}", help=f"箭头：比上一周期（{unit_flt.previous().since} 至 "
                  f"{unit_flt.previous().until}），绿色为向好、红色为变差；小图：逐日走势，不含未完的今日。")

# 工作台: what needs doing now in the unit shown. Two rows at 1440×900 keep the map and its legend on
# the first screen (tests/browser/test_situation_screen.py measures it); the list scrolls for more.
worklist.render(user, unit_flt, rows=2)

map_col, card_col = st.columns([11, 9], gap="medium")
with map_col:
    zoom = ZOOM_FOR_LEVEL[unit_level]
    bounds = tuple(by_code.loc[[unit]].total_bounds)
    with st.spinner("绘制地图…"):
        units = None
        if level is not None:
            shapes = cached.simplified_grids(user, level, within, zoom)
            stats = data.units
            units = shapes[["code", "name", "geometry"]].merge(stats.drop(columns=["name"]), on="code", how="left")
            units["value"] = widgets.metric_value(units, metric)
            # names without the current unit's in front (第1微网格 under 天王寺村第6网格): labels that fit
            units["name"] = [widgets.short_name(n, by_code.at[unit, "name"]) for n in units["name"]]
        heat = data.heat
        exclusive = grids[grids["level"] == "exclusive"].cx[bounds[0]:bounds[2], bounds[1]:bounds[3]]
        # at a tertiary grid and below, the cases themselves as points (clustered when dense)
        case_points = (cached.cases(user, unit_flt, "", False, MAP_CASE_POINTS)
                       if unit_level in ("grid", "micro", "exclusive") else None)
        # 热点: the analysts' Gi* (the CLI's hotspots, the notebooks') of the units shown, drawn on the
        # map's shapes; units the job did not class (none, in the user's scope) are not drawn
        spots = repeat_spots = None
        if map_mode == "hotspots":
            if units is not None and len(units) >= 3:
                classed = cached.hot_spots(user, unit_flt, level, within)
                spots = units[["code", "name", "geometry"]].merge(classed.drop(columns=["name"]), on="code",
                                                                  how="inner")
            repeat_spots = cached.repeats(user, unit_flt)
            if within is not None:  # the repeat locations in the unit shown
                inside = (repeat_spots["exclusive_code"] == unit if unit_level == "exclusive"
                          else repeat_spots["micro_code"].isin(cached.grid_tree(user).micro_under(unit)))
                repeat_spots = repeat_spots[inside.fillna(False).astype(bool)].reset_index(drop=True)
    # rates diverge around the current unit's own value: red below it, blue above
    reference = METRICS[metric].display(data.kpis["current"].get(metric)) if METRICS[metric].is_rate else None
    # the library's map builder, the call benchmarks/map.py times
    m = maps.situation_map(
        bounds=bounds, zoom=zoom, basemap=basemap, units=units, metric=metric, scheme=scheme,
        reference=reference, reference_name=by_code.at[unit, "name"], mode=map_mode,
        units_name=(f"{widgets.level_name(level)} · {'热点分析' if spots is not None else METRICS_ZH[metric]}"
                    if level is not None else ""),
        heat={f"热力 · {label}": (heat[key], key != "garbage") for key, label in HEAT_LAYERS.items()},
        cases=case_points, exclusive=exclusive, outline=grids[grids["code"] == unit] if level is None else None,
        outline_name=by_code.at[unit, "name"], hot_spots=spots, hot_spots_note=HOT_SPOTS_NOTE,
        hot_spots_p_value=DEFAULT_P_VALUE, repeats=repeat_spots,
        repeats_note=f"同类案件 {REPEAT_RULE.d_m:g} 米、{REPEAT_RULE.t_days:g} 天内 ≥ {REPEAT_RULE.k} 次")
    if case_points is not None and len(case_points) >= MAP_CASE_POINTS:
        st.caption(f"地图上只画出最新的 {MAP_CASE_POINTS:,} 件案件；缩小时段或类别可看全部。")
    # st_folium keeps returning the last clicked feature under one key: a fresh key each time the
    # view arrives at a unit, so coming back to a unit does not replay (or block) an old click
    if st.session_state.get("map_unit") != unit:
        st.session_state["map_unit"] = unit
        st.session_state["map_visit"] = st.session_state.get("map_visit", 0) + 1
    # each breadcrumb step past the third adds a line to the header: the map gives it back
    clicked = st_folium(m, height=MAP_HEIGHT - 20 * max(0, len(path) - 3), use_container_width=True,
                        key=f"map-{unit}-{basemap}-{st.session_state['map_visit']}",
                        returned_objects=["last_active_drawing"])
    if map_mode == "hotspots":
        if level is None:
            st.caption(("专属网格下不再细分" if unit_level == "exclusive" else "这里已是最小一级")
                       + "，热点分析请在上一级查看；高频点位照常显示。")
        elif spots is None:
            st.caption(f"范围内的{widgets.level_name(level)}少于 3 个，无法做热点分析。")
        else:
            st.caption(f"热点：各{widgets.level_name(level)}案件数的 Getis-Ord Gi* 统计（共边或共点为相邻），"
                       + ("按 z 值的 p 值" if DEFAULT_P_VALUE == "normal" else "按 999 次置换检验的 p 值")
                       + "分级并经错误发现率校正；按所选时段、类别与来源计算"
                       + ("，不按状态筛选。" if unit_flt.statuses else "。"))
    widgets.demo_notice()
    feature = (clicked or {}).get("last_active_drawing") or {}
    code = (feature.get("properties") or {}).get("code")
    # a click drills into the choropleth's grids only, not into the exclusive grids drawn over them
    if code and code in by_code.index and by_code.at[code, "level"] == level:
        state.filter_to_url(replace(flt, unit=code))
        st.rerun()

with card_col:
    name = by_code.at[unit, "name"]
    st.subheader(f"{name}")
    if level is not None:
        st.caption(f"点击地图上的{widgets.level_name(level)}可下钻一级；左上路径可返回上级。")
    if unit_level in ("street", "community", "exclusive"):
        # folded: the links are many at a street, and the card's tabs come first
        with st.expander("共建社区" if unit_level == "exclusive" else "辖区内专属网格"):
            widgets.exclusive_links(user, flt, unit, unit_level, grids)
    tab_units, tab_cats, tab_staff, tab_open = st.tabs(["下级排名", "主要类别", "网格力量", "未办结案件"])
    with tab_units:
        if level is not None:
            table = stats.sort_values("received", ascending=False)
            rate = st.column_config.NumberColumn
            # narrow number columns, so the table fits the card down to its 超期 column
            widgets.table(pd.DataFrame({
                widgets.level_name(level): table["name"], "受理": table["received"], "办结": table["completed"],
                "办结率": table["completion_rate"] * 100, "按期办结率": table["on_time_rate"] * 100,
                "超期": table["overdue"], "每千户": table["per_1000"]}),
                hide_index=True, width="stretch", height=CARD_TABLE_HEIGHT, column_config={
                    widgets.level_name(level): st.column_config.TextColumn(width=104, pinned=True),
                    "受理": st.column_config.NumberColumn(width=48, format="%d"),
                    "办结": st.column_config.NumberColumn(width=48, format="%d"),
                    "办结率": rate(width=58, format="%.1f%%", help="办结数 / 应办结数"),
                    "按期办结率": rate("按期率", width=58, format="%.1f%%", help="按期办结率：在时限内结案数 / 应办结数"),
                    "超期": st.column_config.NumberColumn(width=44, format="%d", help="超期(督办)数"),
                    "每千户": st.column_config.NumberColumn(width=54, format="%.1f", help="每千户案件数")})
        elif unit_level == "exclusive":
            st.info("专属网格下不再细分；共建社区见上方。")
        else:
            st.info("微网格是最小一级网格。")
    with tab_cats:
        cats = data.categories.head(8)
        if len(cats):
            st.bar_chart(cats.set_index("name")["received"], horizontal=True, height=CARD_TABLE_HEIGHT, x_label="案件数",
                         y_label="")
        else:
            st.info("所选时段内没有案件。")
    with tab_staff:
        if unit_level in ("district", "street"):
            # a district or street: how many staff serve each street or community (the people are
            # listed one level further down)
            summary = cached.staff_summary(user, level, unit)
            widgets.table(summary.drop(columns="code").rename(columns={"name": widgets.level_name(level)}),
                         hide_index=True, width="stretch", height=CARD_TABLE_HEIGHT - 28)
            st.caption(f"各{widgets.level_name(level)}在岗人数；下钻到社区可见人员名单。")
        else:
            codes = [unit] + ([] if level is None else list(grids.loc[grids["parent_code"] == unit, "code"]))
            names = dict(zip(grids["code"], grids["name"]))
            widgets.table(widgets.masked_staff(user, codes, names), hide_index=True, width="stretch",
                         height=CARD_TABLE_HEIGHT)
    with tab_open:
        open_cases = cached.open_cases_by_overdue(user, unit_flt, 200)
        shown = widgets.cases_table(open_cases)[["编号", "类别", "状态", "办理时限", "责任人", "地址"]]
        shown.insert(1, "超期时长", open_cases["overdue_h"].map(widgets.overdue_text))
        widgets.table(shown, hide_index=True, width="stretch", height=CARD_TABLE_HEIGHT - 28)
        total = int(data.kpis["current"].get("open") or 0)
        st.caption(f"按超期时长排序，超期最久的在前；共 {total} 件未办结" + ("，显示前 200 件。" if total > 200 else "。"))

with map_col:
    # the map as a meeting's figure: the same units and metric, with title, legend, period and office
    if units is not None and len(units):
        figure_units = units[["code", "name", "value", "geometry"]]
    else:  # a micro-grid or an exclusive grid: the unit itself, with its own figure
        own = data.kpis["current"].get(metric)
        figure_units = grids.loc[grids["code"] == unit, ["code", "name", "geometry"]].assign(
            value=METRICS[metric].display(own))
    current_value = METRICS[metric].display(data.kpis["current"].get(metric))
    figure_title = f"{by_code.at[unit, 'name']} · {METRICS_ZH[metric]}"
    figure_notes = (f"统计时段：{unit_flt.since} 至 {unit_flt.until}",
                    f"制图单位：{widgets.issuing_office(user, grids)}",
                    f"制图日期：{state.today()}")

    def figure(fmt: str):
        return lambda: maps.map_figure(
            figure_units, metric=metric, title=figure_title, scheme=scheme, notes=figure_notes, fmt=fmt,
            subtitle=f"按{widgets.level_name(level)}" if level is not None else "",
            reference=current_value if METRICS[metric].is_rate else None)
    exports = st.container(horizontal=True, gap="small", key="situation-map-export")
    for fmt, mime in (("png", "image/png"), ("pdf", "application/pdf")):
        widgets.download_button(user, f"导出地图 {fmt.upper()}", figure(fmt), mime=mime, key=f"map-{fmt}",
                                file_name=f"{figure_title.replace(' · ', '_')}_{unit_flt.since}_{unit_flt.until}.{fmt}",
                                what=f"situation_map_{fmt}", rows=len(figure_units), container=exports)

if repeat_spots is not None:
    # 高频点位 of the unit shown (the CLI's repeats), the markers' list; no phones, only who serves there
    st.subheader("高频点位")
    rule = (f"同一类别的案件在 {REPEAT_RULE.d_m:g} 米、{REPEAT_RULE.t_days:g} 天内被反映不少于 {REPEAT_RULE.k} 次"
            "的地点")
    st.caption(f"{rule}，共 {len(repeat_spots)} 处，次数多的在前；地图上以青绿色圆点标出，圆越大次数越多。"
               if len(repeat_spots) else f"{rule}。")
    widgets.table(maps.repeats_table(repeat_spots), empty="所选时段与范围内没有高频点位。", hide_index=True,
                  width="stretch", height=min(36 + 35 * len(repeat_spots), 386), key="repeats-table",
                  column_config={"次数": st.column_config.NumberColumn(format="%d", width=56),
                                 "地点": st.column_config.TextColumn(width="medium")})

st.subheader("每日趋势")
# today's counts are still growing: the chart marks today apart (dashed, hollow point) instead of
# drawing it as a drop at the end of the line
st.altair_chart(charts.daily_trend(data.daily, today=state.today()), width="stretch")
if unit_flt.until >= state.today():
    st.caption("今日未完：虚线与空心点为今日截至目前的数量，不计入走势。")
