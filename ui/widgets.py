"""Widgets the pages share: the filter sidebar, KPI cards, Chinese labels for codes, audited
downloads, and the guard that keeps a page's database trouble on screen in Chinese."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access, metrics
from gis.core.access import Principal
from gis.core.hierarchy import LEVEL_NAMES_ZH, LEVELS
from gis.core.metrics import SOURCES_ZH, CaseFilter
from gis.core.rules import config, lifecycle
from gis.errors import DatabaseBusy, DatabaseUnavailable, SchemaOutOfDate
from ui import cached, state


def category_names() -> dict[str, str]:
    rules = config.load_rules()
    return {code: f"{c.group_name_zh} · {c.name_zh}" if c.name_zh != c.group_name_zh else c.name_zh
            for code, c in rules.categories.items()}


def status_names() -> dict[str, str]:
    return {s: lifecycle.status_name_zh(s) for s in lifecycle.STATUSES}


def active_grids_or_stop(user: Principal):
    """The active grids ``user`` may see; with none, say so and stop the page."""
    from gis.errors import InputError
    try:
        return cached.active_grids(user)
    except InputError as exc:
        st.error(f"尚无网格数据：{exc}")
        st.stop()


def home_unit(user: Principal, grids: pd.DataFrame) -> str | None:
    """Where ``user``'s views start and how far up they may go: the scope, when it is a grid of
    the nesting (district … micro-grid) among ``grids``; else the district, if visible."""
    levels = dict(zip(grids["code"], grids["level"]))
    if levels.get(user.scope) in LEVELS:
        return user.scope
    districts = sorted(code for code, level in levels.items() if level == "district")
    return districts[0] if districts else None


def in_scope(user: Principal, code: str | None, grids: pd.DataFrame) -> bool:
    """Whether ``code`` is the user's home unit or below it (an ancestor shown in a breadcrumb
    is not: a street's leader has no district view)."""
    home = home_unit(user, grids)
    if code is None or home is None or code not in set(grids["code"]):
        return False
    if grids.loc[grids["level"] == "district", "code"].isin([home]).any():
        return True  # the whole district: every visible grid, exclusive grids included
    return home in {step["code"] for step in cached.grid_tree(user).path(code)}


def exclusive_links(user: Principal, flt: CaseFilter, unit: str, unit_level: str, grids: pd.DataFrame) -> None:
    """Links between exclusive grids (专属网格) and communities on the unit's card: an exclusive
    grid lists its 共建 communities; a street or community lists the exclusive grids over it."""
    partners = cached.exclusive_partners(user)
    visible = set(grids["code"])
    if unit_level == "exclusive":
        rows = partners[(partners["exclusive_code"] == unit) & partners["code"].isin(visible)]
        label = "共建社区"
        links = [(code, f"{name}（{share:.0%}）") for code, name, share in zip(rows["code"], rows["name"],
                                                                             rows["share"])]
    elif unit_level in ("street", "community"):
        under = cached.grid_tree(user).units_under(unit, "community") if unit_level == "street" else {unit}
        codes = sorted(set(partners.loc[partners["code"].isin(under), "exclusive_code"]) & visible)
        names = dict(zip(grids["code"], grids["name"]))
        label = "专属网格"
        links = [(code, names[code]) for code in codes]
    else:
        return
    if not links:
        return
    st.markdown(f"**{label}**")
    for column, (code, text) in zip(st.columns(min(len(links), 4)) * (len(links) // 4 + 1), links):
        if column.button(text, key=f"link-{code}", width="stretch"):
            state.filter_to_url(replace(flt, unit=code))
            st.rerun()


def sidebar_filter(user: Principal) -> CaseFilter:
    """Date range, category, source, status and street in the sidebar; kept in the URL.

    The street box is for users who see the whole district; others see the name of
    their scope instead, and a unit outside it (a link shared by someone else) is dropped.
    """
    flt = state.filter_from_url()
    grids = cached.active_grids(user)
    streets = grids[grids["level"] == "street"].sort_values("code")
    home = home_unit(user, grids)
    sees_district = home is not None and (grids.loc[grids["code"] == home, "level"] == "district").any()
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
        if sees_district:
            street_names = dict(zip(streets["code"], streets["name"]))
            current_street = _street_of(user, flt.unit)
            # The URL's unit (set by this box, the breadcrumb or a map click) is the truth: a keyed
            # widget keeps its own value across reruns, so it is brought in line with the URL here,
            # and a choice in the box reaches the URL through its callback before the script runs.
            # ("" is 全区: a selectbox shows None as no choice at all)
            if st.session_state.get("f_street") != (current_street or ""):
                st.session_state["f_street"] = current_street or ""
            st.selectbox("街道", ["", *street_names], format_func=lambda c: street_names.get(c, "全区"),
                         key="f_street", on_change=_street_to_url)
        elif home is not None:
            names = dict(zip(grids["code"], grids["name"]))
            st.caption(f"范围：{names.get(home, home)}")
    # a unit that is not a grid the user may open (a stale link, an older grid version, another
    # user's scope) falls back to the user's whole scope
    unit = flt.unit if in_scope(user, flt.unit, grids) else None
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


def _street_of(user: Principal, code: str | None) -> str | None:
    return cached.grid_tree(user).ancestor(code, "street")


pct = metrics.format_rate


def kpi_cards(flt: CaseFilter, k: dict) -> None:
    """Received, completed, 办结率, 按期办结率, overdue, median handling time, each against the previous
    period (``k`` as :func:`gis.workflows.kpis` gives it)."""
    cards = metrics.kpi_cards(k["current"], k["previous"])
    for col, card in zip(st.columns(len(cards)), cards):
        col.metric(card.label, card.value, card.delta, help=card.help,
                   delta_color="off" if card.tone == "neutral" else "inverse" if card.worse_when_up else "normal")
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
    # an empty cell, not the table's "None", where nothing is stored
    text = ["微网格", "专属网格", "责任人", "地址", "描述"]
    out[text] = out[text].astype(object).where(out[text].notna(), "")
    return out


def _local(values: pd.Series) -> pd.Series:
    times = pd.to_datetime(values, utc=True)
    return times.dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M").fillna("")


def may_export(user: Principal | None) -> bool:
    """Whether ``user``'s role may download data (every download is audited)."""
    return user is not None and user.can(access.EXPORT)


def download_button(user: Principal, label: str, data: bytes | Callable[[], bytes], *, file_name: str, mime: str,
                    key: str, what: str, rows: int, container: Any = st) -> None:
    """One download button, shown only to roles that may export; each click is written to the
    audit trail (what, rows, file) by the button's ``on_click`` callback, which runs in the
    rerun the click starts."""
    if not may_export(user):
        return
    notice = st.session_state.pop("export_notice", None)
    if notice:
        st.warning(notice)
    container.download_button(label, data, file_name=file_name, mime=mime, key=key, on_click=_record_export,
                              args=(user, what, rows, file_name))


def _record_export(user: Principal, what: str, rows: int, file_name: str) -> None:
    try:
        workflows.record_export(cached.for_user(user), what=what, rows=rows, detail={"file": file_name})
    except (DatabaseBusy, DatabaseUnavailable):
        # the browser has the file already; say that the record of it is missing (a callback
        # has no place on the page, so the next run shows it)
        st.session_state["export_notice"] = "下载未能记入审计日志：数据库暂时不可用。"


def download_frame(user: Principal, frame: pd.DataFrame, *, name: str, key: str, what: str) -> None:
    """CSV (UTF-8 with BOM, opens in Excel) and XLSX download buttons, for roles that may export;
    every download is audited (:func:`download_button`)."""
    import io
    if not may_export(user):
        return
    c1, c2 = st.columns(2)
    download_button(user, "下载 CSV", frame.to_csv(index=False).encode("utf-8-sig"), file_name=f"{name}.csv",
                    mime="text/csv", key=f"{key}-csv", what=what, rows=len(frame), container=c1)
    buf = io.BytesIO()
    frame.to_excel(buf, index=False, engine="openpyxl")
    download_button(user, "下载 Excel", buf.getvalue(), file_name=f"{name}.xlsx", key=f"{key}-xlsx",
                    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", what=what,
                    rows=len(frame), container=c2)


def masked_staff(user: Principal, codes: list[str], names: dict[str, str]) -> pd.DataFrame:
    staff = cached.staff(user, tuple(codes))
    return pd.DataFrame({"网格": staff["grid_code"].map(lambda c: names.get(c, c)), "岗位": staff["role"],
                         "姓名": staff["name"], "电话": staff["phone"]})


def unit_filter(flt: CaseFilter, unit: str | None) -> CaseFilter:
    return replace(flt, unit=unit)


def demo_notice() -> None:
    st.caption("演示数据：中原区的区界、街道与社区名称和代码为真实公开数据；街道、社区及网格边界和全部事件为合成数据。")


def metric_value(stats: pd.DataFrame, metric: str) -> pd.Series:
    return stats[metric].astype(float) * (100 if metric.endswith("_rate") else 1)


# -- the page guard ---------------------------------------------------------------------------------

#: How long a page waits between attempts while the database is away, and for how long it keeps
#: trying by itself before it offers a button (a restart takes seconds; longer is an outage).
RECONNECT_WAIT_S = 2.0
RECONNECT_FOR_S = 120.0
_DOWN_SINCE = "db_down_since"
_FAILED_LAST = "db_failed_last_run"


def run_guarded(run: Callable[[], None]) -> None:
    """Run the page; database trouble becomes a notice in Chinese instead of a traceback.

    When the server is away (a restart), the page says 数据库重连中… and runs itself
    again every :data:`RECONNECT_WAIT_S` seconds until it answers (the pool reconnects
    by itself), for :data:`RECONNECT_FOR_S` seconds; the user need not reload.
    """
    # The outage's start is forgotten once a run has got through. That is known at the start
    # of the next run: a page that ends early (st.stop) keeps no session-state change made after.
    if not st.session_state.get(_FAILED_LAST):
        st.session_state.pop(_DOWN_SINCE, None)
    st.session_state[_FAILED_LAST] = False
    try:
        run()
    except DatabaseBusy:
        st.warning("数据库繁忙，请稍后重试。")
    except DatabaseUnavailable:
        st.session_state[_FAILED_LAST] = True
        _reconnect()
    except SchemaOutOfDate:
        st.error("数据库结构不是最新版本，请管理员运行 python -m gis db init 后刷新页面。")


def _reconnect() -> None:
    since = st.session_state.setdefault(_DOWN_SINCE, time.monotonic())
    if time.monotonic() - since < RECONNECT_FOR_S:
        st.info("数据库重连中…")
        time.sleep(RECONNECT_WAIT_S)
        st.rerun()
    st.warning("暂时无法连接数据库，请稍后重试。")
    if st.button("重新连接", key="reconnect"):
        st.session_state.pop(_DOWN_SINCE, None)
        st.rerun()


def hide_english_hints() -> None:
    """Hide or replace Streamlit's own English texts: the input hint ("Press Enter to apply") and
    the file uploader's "Upload" button and "200MB per file" line (the page states its own limits
    in the label): the app speaks Chinese only."""
    st.html("<style>"
            "[data-testid='InputInstructions'], [data-testid='stFileUploaderDropzoneInstructions'] { display: none; }"
            "[data-testid='stFileUploaderDropzone'] button > * { display: none; }"
            "[data-testid='stFileUploaderDropzone'] button::after { content: '选择照片'; font-size: 0.875rem; }"
            "</style>")


__all__ = ["sidebar_filter", "kpi_cards", "cases_table", "download_frame", "masked_staff", "pct", "level_name",
           "demo_notice", "metric_value", "unit_filter", "category_names", "status_names", "download_button",
           "may_export", "home_unit", "in_scope", "run_guarded", "hide_english_hints"]


