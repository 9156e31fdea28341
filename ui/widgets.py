"""Widgets the pages share: the filter sidebar, KPI cards, Chinese labels for codes, audited
downloads, and the guard that keeps a page's database trouble on screen in Chinese."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access, metrics
from gis.core.access import Principal
from gis.core import hierarchy
from gis.core.hierarchy import LEVEL_NAMES_ZH, LEVELS
from gis.core.metrics import SOURCES_ZH, CaseFilter
from gis.core.rules import config, lifecycle
from gis.errors import DatabaseBusy, DatabaseUnavailable, SchemaOutOfDate
from ui import cached, state

_log = logging.getLogger(__name__)


def category_names() -> dict[str, str]:
    return config.load_rules().category_names_zh()


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
                                    format_func=cats.get, placeholder="全部类别", key="f_categories", select_all=False)
        sources = st.multiselect("来源", list(SOURCES_ZH), default=[s for s in flt.sources or () if s in SOURCES_ZH],
                                 format_func=SOURCES_ZH.get, placeholder="全部来源", key="f_sources", select_all=False)
        statuses_zh = status_names()
        statuses = st.multiselect("状态", list(statuses_zh),
                                  default=[s for s in flt.statuses or () if s in statuses_zh],
                                  format_func=statuses_zh.get, placeholder="全部状态", key="f_statuses", select_all=False)
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


#: The colour of a KPI card's change and sparkline for each :class:`gis.core.metrics.KpiCard` tone:
#: a change for the better is green, for the worse red, whatever its sign (a drop in 超期 is green);
#: no change, or a figure with no good direction (受理), is grey.
TONE_COLORS = {"good": "green", "bad": "red", "neutral": "off", None: "off"}


def tone_color(tone: str | None) -> str:
    """``st.metric``'s ``delta_color`` for a KPI card's ``tone`` (:data:`TONE_COLORS`)."""
    return TONE_COLORS[tone]


def kpi_cards(flt: CaseFilter, k: dict, series: pd.DataFrame | None = None, *, container: Any = None,
              caption: bool = True) -> None:
    """Received, completed, 办结率, 按期办结率, 满意率, overdue, median handling time, each against the
    previous period (``k`` as :func:`gis.workflows.kpis` gives it), coloured good or bad by the
    figure's direction; with ``series`` (:func:`gis.workflows.kpi_series`), each card carries a
    sparkline of its figure over the period's finished days, in the same colour."""
    container = container or st
    cards = metrics.kpi_cards(k["current"], k["previous"])
    for col, card in zip(container.columns(len(cards), gap="small"), cards):
        line = None
        if series is not None and card.key in series and series[card.key].notna().sum() >= 2:
            shown = series[card.key].astype(float)
            line = (shown * 100 if metrics.METRICS.get(card.key) and metrics.METRICS[card.key].is_rate
                    else shown).ffill().bfill().round(2).tolist()
        col.metric(card.label, card.value, card.delta, help=card.help, delta_color=tone_color(card.tone),
                   chart_data=line, chart_type="line", border=True, height="stretch")
    if caption:
        container.caption(f"箭头对比上一周期（{flt.previous().since} 至 {flt.previous().until}）；"
                          "绿色为向好、红色为变差；小图为逐日走势（不含今日）。")


#: How an office issuing a document is named after the level of the scope it heads.
def issuing_office(user: Principal, grids: pd.DataFrame) -> str:
    """The office a document of ``user``'s is issued by: the scope's name and office, e.g.
    ``航海西路街道办事处`` for a street's leader, ``中原区人民政府`` for the district."""
    home = home_unit(user, grids)
    row = grids[grids["code"] == home]
    if not len(row):
        return ""
    return hierarchy.issuing_office(str(row["name"].iloc[0]), str(row["level"].iloc[0]))


def short_name(name: str, parent: str | None) -> str:
    """A grid's name without its parent's name in front (帝湖花园东社区第10网格 under 帝湖花园东社区:
    第10网格), for a breadcrumb that names the parent already; the whole name otherwise."""
    if parent and name.startswith(parent) and len(name) > len(parent):
        return name[len(parent):]
    return name


def duration_zh(hours: float | None) -> str:
    """Hours as a Chinese duration, e.g. ``3天5小时``, ``40分钟``; ``—`` when unknown."""
    if hours is None or pd.isna(hours):
        return "—"
    minutes = round(abs(float(hours)) * 60)
    days, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if days:
        return f"{days}天{h}小时" if h else f"{days}天"
    if h:
        return f"{h}小时{m}分钟" if m and h < 10 else f"{h}小时"
    return f"{m}分钟"


def overdue_text(hours: float | None) -> str:
    """How overdue an open case is: ``超期 3天5小时``, ``剩余 5小时`` before the deadline, ``—`` without one."""
    if hours is None or pd.isna(hours):
        return "—"
    return f"超期 {duration_zh(hours)}" if hours > 0 else f"剩余 {duration_zh(hours)}"


def level_name(level: str) -> str:
    return LEVEL_NAMES_ZH.get(level, level)


def cases_table(frame: pd.DataFrame, grid_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Cases with Chinese headers and names; text left as stored (st.dataframe shows it as text).
    With ``grid_names`` (code -> name), 微网格 and 专属网格 show names, and 微网格编码 keeps the code."""
    names = grid_names or {}
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
        "微网格": frame["micro_code"].map(lambda c: names.get(c, c)),
        "微网格编码": frame["micro_code"],
        "专属网格": frame["exclusive_code"].map(lambda c: names.get(c, c)),
        "责任人": frame["assignee"],
        "地址": frame["address"],
        "描述": frame["description"],
    })
    # an empty cell, not the table's "None", where nothing is stored
    text = ["微网格", "微网格编码", "专属网格", "责任人", "地址", "描述"]
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
    except Exception:  # a bug: its traceback goes to the server log, the user gets Chinese and a reference
        reference = uuid.uuid4().hex[:8]
        _log.exception("page failed (reference %s)", reference)
        st.error(f"页面出错，请刷新页面重试；如仍出错，请将错误编号 {reference} 告知系统管理员。")


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


#: What the screen shows where nothing is stored (Streamlit's tables say "None").
MISSING = "—"


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for the screen: a missing value (None, NaN) in a text column reads "—".

    Number and date columns keep their type (sorting and alignment); in :func:`table` their gaps
    read "—" too, through ``st.dataframe``'s ``placeholder``.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
            out[column] = values.astype(object).where(values.notna(), MISSING)
    return out


def table(data: pd.DataFrame | dict, *, empty: str = "暂无数据。", **kwargs: Any) -> Any:
    """``st.dataframe`` for the screen: missing values read "—" (:func:`for_display` and the
    ``placeholder``), and a frame with no rows is the note ``empty`` instead of a grid that says
    "empty" (drawn on a canvas, out of CSS's reach); None then, as no selection is possible.
    ``hide_index`` defaults to True; other keyword arguments go to ``st.dataframe``."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if frame.empty:
        st.caption(empty)
        return None
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("placeholder", MISSING)
    return st.dataframe(for_display(frame), **kwargs)


#: Streamlit's own English texts, hidden or replaced by CSS (Streamlit 1.67 has no option for them):
#: the input hint "Press Enter to apply"; the file uploader's "Upload" and "200MB per file" (the page
#: states its limits in the label); the date calendar's "Date range / Select..." presets; the
#: "Running..." / "Stop" status widget (加载中… / 停止; the minimal toolbar of .streamlit/config.toml
#: shows none, this is for a deployment that sets another toolbarMode) and its "Connecting" label;
#: the tooltips of the toolbar over tables and charts (Search 搜索, Fullscreen 全屏, …); a
#: dropdown's "No results" (无匹配项).
_CHINESE_CSS = """
[data-testid='InputInstructions'], [data-testid='stFileUploaderDropzoneInstructions'],
[data-testid='stDateInputQuickSelect'] { display: none; }
[data-testid='stFileUploaderDropzone'] button > * { display: none; }
[data-testid='stFileUploaderDropzone'] button::after { content: '选择照片'; font-size: 0.875rem; }
[data-testid='stStatusWidget'] button { visibility: hidden; font-size: 0; }
[data-testid='stStatusWidget'] button::after { visibility: visible; content: '停止'; font-size: 0.875rem; }
[data-testid='stStatusWidget'] { display: flex; align-items: center; }
[data-testid='stStatusWidget']:has([data-testid='stStatusWidgetRunningIcon'])::before {
  content: '加载中…'; font-size: 0.875rem; margin-right: 0.5rem; white-space: nowrap; opacity: 0.7; }
[data-testid='stConnectionStatus'] label { visibility: hidden; font-size: 0; }
[data-testid='stConnectionStatus'] label::after { visibility: visible; content: '正在连接…'; font-size: 0.875rem; }
[data-testid='stElementToolbarButton']:has(button[aria-label^='Copy Vega-Lite spec']),
[data-testid='stElementToolbarButton']:has(button[aria-label^='Show data']) { display: none; }
body:has([data-testid='stElementToolbarButton'] button:hover) [data-testid='stTooltipContent'] > * { display: none; }
body:has([data-testid='stElementToolbarButton'] button:hover) [data-testid='stTooltipContent']::after {
  font-size: 0.875rem; }
body:has([data-testid='stElementToolbarButton'] button[aria-label^='Search']:hover)
  [data-testid='stTooltipContent']::after { content: '搜索'; }
body:has([data-testid='stElementToolbarButton'] button[aria-label^='Fullscreen']:hover)
  [data-testid='stTooltipContent']::after { content: '全屏'; }
body:has([data-testid='stElementToolbarButton'] button[aria-label^='Close fullscreen']:hover)
  [data-testid='stTooltipContent']::after { content: '退出全屏'; }
body:has([data-testid='stElementToolbarButton'] button[aria-label^='Show/hide columns']:hover)
  [data-testid='stTooltipContent']::after { content: '显示/隐藏列'; }
body:has([data-testid='stElementToolbarButton'] button[aria-label^='Download as PNG']:hover)
  [data-testid='stTooltipContent']::after { content: '下载图片'; }
[role='listbox'][data-empty='true'] [role='option'] > span { visibility: hidden; font-size: 0; }
[role='listbox'][data-empty='true'] [role='option'] > span::after {
  visibility: visible; content: '无匹配项'; font-size: 0.875rem; }
"""


def hide_english_hints() -> None:
    """Hide or replace Streamlit's own English texts (:data:`_CHINESE_CSS`): the app speaks Chinese only.

    Called once per run by app.py, before any page. Texts drawn on a canvas (a table's cells)
    are not reachable by CSS: tables on screen go through :func:`table`.
    """
    st.html(f"<style>{_CHINESE_CSS}</style>")


__all__ = ["sidebar_filter", "kpi_cards", "cases_table", "masked_staff", "pct", "level_name",
           "demo_notice", "metric_value", "unit_filter", "category_names", "status_names", "download_button",
           "may_export", "home_unit", "in_scope", "run_guarded", "hide_english_hints", "TONE_COLORS",
           "tone_color", "duration_zh", "overdue_text", "issuing_office", "short_name", "for_display",
           "table", "MISSING"]


