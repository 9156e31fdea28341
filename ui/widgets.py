"""Widgets the pages share: the filter sidebar, KPI cards, Chinese labels for codes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pandas as pd
import streamlit as st

from gis.core import metrics
from gis.core.hierarchy import LEVEL_NAMES_ZH
from gis.core.metrics import SOURCES_ZH, CaseFilter
from gis.core.rules import config, lifecycle
from ui import cached, state


def category_names() -> dict[str, str]:
    rules = config.load_rules()
    return {code: f"{c.group_name_zh} · {c.name_zh}" if c.name_zh != c.group_name_zh else c.name_zh
            for code, c in rules.categories.items()}


def status_names() -> dict[str, str]:
    return {s: lifecycle.status_name_zh(s) for s in lifecycle.STATUSES}


def active_grids_or_stop():
    """The active grids; with none stored, say how to load them and stop the page."""
    from gis.errors import InputError
    try:
        return cached.active_grids()
    except InputError as exc:
        st.error(f"尚无网格数据：{exc}")
        st.stop()


def sidebar_filter() -> CaseFilter:
    """Date range, category, source, status and street in the sidebar; kept in the URL."""
    flt = state.filter_from_url()
    grids = cached.active_grids()
    streets = grids[grids["level"] == "street"].sort_values("code")
    with st.sidebar:
        st.subheader("筛选")
        picked = st.date_input("日期范围", value=(flt.since, flt.until), max_value=state.today() + timedelta(days=1),
                               key="f_dates")
        since, until = (picked if isinstance(picked, (tuple, list)) and len(picked) == 2 else (flt.since, flt.until))
        cats = category_names()
        categories = st.multiselect("事件类别", list(cats), default=[c for c in flt.categories or () if c in cats],
                                    format_func=cats.get, placeholder="全部类别", key="f_categories")
        sources = st.multiselect("来源", list(SOURCES_ZH), default=[s for s in flt.sources or () if s in SOURCES_ZH],
                                 format_func=SOURCES_ZH.get, placeholder="全部来源", key="f_sources")
        statuses_zh = status_names()
        statuses = st.multiselect("状态", list(statuses_zh),
                                  default=[s for s in flt.statuses or () if s in statuses_zh],
                                  format_func=statuses_zh.get, placeholder="全部状态", key="f_statuses")
        street_names = dict(zip(streets["code"], streets["name"]))
        current_street = _street_of(flt.unit)
        # The URL's unit (set by this box, the breadcrumb or a map click) is the truth: a keyed
        # widget keeps its own value across reruns, so it is brought in line with the URL here,
        # and a choice in the box reaches the URL through its callback before the script runs.
        # ("" is 全区: a selectbox shows None as no choice at all)
        if st.session_state.get("f_street") != (current_street or ""):
            st.session_state["f_street"] = current_street or ""
        st.selectbox("街道", ["", *street_names], format_func=lambda c: street_names.get(c, "全区"),
                     key="f_street", on_change=_street_to_url)
    # a unit that is not an active grid (a stale link, an older grid version) falls back to the district
    unit = flt.unit if flt.unit in set(grids["code"]) else None
    new = CaseFilter(since=since, until=until, categories=tuple(categories) or None, sources=tuple(sources) or None,
                     statuses=tuple(statuses) or None, unit=unit)
    state.filter_to_url(new)
    return new


def _street_to_url() -> None:
    """Choosing a street in the sidebar jumps the view to it (全区: the whole district)."""
    street = st.session_state["f_street"]
    if street:
        st.query_params["unit"] = street
    elif "unit" in st.query_params:
        del st.query_params["unit"]


def _street_of(code: str | None) -> str | None:
    return cached.grid_tree().ancestor(code, "street")


pct = metrics.format_rate


def kpi_cards(flt: CaseFilter, k: dict) -> None:
    """Received, completed, 办结率, 按期办结率, overdue, median handling time, each against the previous
    period (``k`` as :func:`gis.workflows.kpis` gives it)."""
    cards = metrics.kpi_cards(k["current"], k["previous"])
    for col, card in zip(st.columns(len(cards)), cards):
        col.metric(card.label, card.value, card.delta, help=card.help,
                   delta_color="inverse" if card.worse_when_up else "normal")
    st.caption(f"对比上一周期：{flt.previous().since} 至 {flt.previous().until}")


def level_name(level: str) -> str:
    return LEVEL_NAMES_ZH.get(level, level)


def cases_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Cases with Chinese headers and names; text left as stored (st.dataframe shows it as text)."""
    cats, statuses = category_names(), status_names()
    tiers = {code: tier.label_zh for code, tier in config.load_rules().tiers.items()}
    out = pd.DataFrame({
        "来源": frame["source"].map(lambda s: SOURCES_ZH.get(s, s)),
        "编号": frame["external_id"],
        "类别": frame["category"].map(lambda c: cats.get(c, c)),
        "状态": frame["status"].map(lambda s: statuses.get(s, s)),
        "层级": frame["tier"].map(lambda t: tiers.get(t, t)),
        "受理时间": _local(frame["reported_at"]),
        "办理时限": _local(frame["due_at"]),
        "结案时间": _local(frame["closed_at"]),
        "微网格": frame["micro_code"],
        "专属网格": frame["exclusive_code"],
        "责任人": frame["assignee"],
        "地址": frame["address"],
        "描述": frame["description"],
    })
    return out


def _local(values: pd.Series) -> pd.Series:
    times = pd.to_datetime(values, utc=True)
    return times.dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M").fillna("")


def download_frame(frame: pd.DataFrame, *, name: str, key: str) -> None:
    """CSV (UTF-8 with BOM, opens in Excel) and XLSX download buttons."""
    import io
    c1, c2 = st.columns(2)
    c1.download_button("下载 CSV", frame.to_csv(index=False).encode("utf-8-sig"), file_name=f"{name}.csv",
                       mime="text/csv", key=f"{key}-csv")
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    c2.download_button("下载 Excel", buf.getvalue(), file_name=f"{name}.xlsx", key=f"{key}-xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def masked_staff(codes: list[str], names: dict[str, str]) -> pd.DataFrame:
    staff = cached.staff(tuple(codes))
    return pd.DataFrame({"网格": staff["grid_code"].map(lambda c: names.get(c, c)), "岗位": staff["role"],
                         "姓名": staff["name"], "电话": staff["phone"]})


def unit_filter(flt: CaseFilter, unit: str | None) -> CaseFilter:
    return replace(flt, unit=unit)


def demo_notice() -> None:
    st.caption("演示数据：中原区的区界、街道与社区名称和代码为真实公开数据；街道、社区及网格边界和全部事件为合成数据。")


def metric_value(stats: pd.DataFrame, metric: str) -> pd.Series:
    return stats[metric].astype(float) * (100 if metric.endswith("_rate") else 1)


__all__ = ["sidebar_filter", "kpi_cards", "cases_table", "download_frame", "masked_staff", "pct", "level_name",
           "demo_notice", "metric_value", "unit_filter", "category_names", "status_names"]


