"""态势地图: heat layers, a choropleth with drill-down, KPI cards and the unit's card."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import maps
from gis.core.hierarchy import child_level
from gis.core.metrics import METRICS_ZH
from gis.workflows import HEAT_LAYERS
from ui import auth, cached, state, widgets

ZOOM_FOR_LEVEL = {"district": 12, "street": 14, "community": 15, "grid": 16, "micro": 17, "exclusive": 17}

user = auth.require_user()
st.title("态势地图")
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
state.view_to_url(state.MapView(basemap=basemap, metric=metric, scheme=scheme))

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
crumbs = st.columns(len(path) + 1, gap="small")
for col, step in zip(crumbs, reversed(path)):
    code = step["code"]
    label = f"{step['name']}（{widgets.level_name(step['level'])}）"
    if col.button(label, key=f"crumb-{code}", disabled=code == unit or code in above_home, width="stretch"):
        state.filter_to_url(replace(flt, unit=None if code == home else code))
        st.rerun()

unit_flt = replace(flt, unit=None if unit == home and whole else unit)
within = None if unit == home and whole else unit
with st.spinner("汇总数据…"):
    data = cached.situation(user, unit_flt, level, within)
widgets.kpi_cards(unit_flt, data.kpis)

map_col, card_col = st.columns([3, 2])
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
        heat = data.heat
        exclusive = grids[grids["level"] == "exclusive"].cx[bounds[0]:bounds[2], bounds[1]:bounds[3]]
    # the library's map builder, the call benchmarks/map.py times
    m = maps.situation_map(
        bounds=bounds, zoom=zoom, basemap=basemap, units=units, scheme=scheme,
        value_label=METRICS_ZH[metric] + ("(%)" if metric.endswith("_rate") else ""),
        units_name=f"{widgets.level_name(level)} · {METRICS_ZH[metric]}" if level is not None else "",
        heat={f"热力 · {label}": (heat[key], key != "garbage") for key, label in HEAT_LAYERS.items()},
        exclusive=exclusive, outline=grids[grids["code"] == unit] if level is None else None,
        outline_name=by_code.at[unit, "name"])
    # st_folium keeps returning the last clicked feature under one key: a fresh key each time the
    # view arrives at a unit, so coming back to a unit does not replay (or block) an old click
    if st.session_state.get("map_unit") != unit:
        st.session_state["map_unit"] = unit
        st.session_state["map_visit"] = st.session_state.get("map_visit", 0) + 1
    clicked = st_folium(m, height=620, use_container_width=True,
                        key=f"map-{unit}-{basemap}-{st.session_state['map_visit']}",
                        returned_objects=["last_active_drawing"])
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
        st.caption(f"点击地图上的{widgets.level_name(level)}可下钻一级；上方路径可返回上级。")
    widgets.exclusive_links(user, flt, unit, unit_level, grids)
    tab_units, tab_cats, tab_staff, tab_open = st.tabs(["下级排名", "主要类别", "网格力量", "未办结案件"])
    with tab_units:
        if level is not None:
            table = stats.sort_values("received", ascending=False)
            st.dataframe(pd.DataFrame({
                widgets.level_name(level): table["name"], "受理": table["received"], "办结": table["completed"],
                "办结率": table["completion_rate"].map(widgets.pct), "按期办结率": table["on_time_rate"].map(widgets.pct),
                "超期": table["overdue"], "每千户": table["per_1000"].round(1)}),
                hide_index=True, width="stretch", height=320)
        elif unit_level == "exclusive":
            st.info("专属网格下不再细分；共建社区见上方。")
        else:
            st.info("微网格是最小一级网格。")
    with tab_cats:
        cats = data.categories.head(8)
        if len(cats):
            st.bar_chart(cats.set_index("name")["received"], horizontal=True, height=280, x_label="案件数",
                         y_label="")
        else:
            st.info("所选时段内没有案件。")
    with tab_staff:
        codes = [unit] + ([] if level is None else list(grids.loc[grids["parent_code"] == unit, "code"]))
        names = dict(zip(grids["code"], grids["name"]))
        st.dataframe(widgets.masked_staff(user, codes, names), hide_index=True, width="stretch", height=280)
    with tab_open:
        open_cases = cached.cases(user, unit_flt, "", True, 200)
        st.dataframe(widgets.cases_table(open_cases)[["编号", "类别", "状态", "受理时间", "办理时限", "责任人", "地址"]],
                     hide_index=True, width="stretch", height=280)

st.subheader("每日趋势")
daily = data.daily.rename(columns={"received": "受理", "completed": "办结"})
st.line_chart(daily.set_index("day")[["受理", "办结"]], height=220)
