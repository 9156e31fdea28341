"""工作台: what needs doing now, drawn compactly at the top of a page.

Four buttons with counts (今日新增, 即将超期, 已超期, 督办中; none chosen: all of them), the
cases sorted by urgency (:mod:`gis.core.worklist`), and one click on a row opens the case:
in 工单处置 (``/work?case=<source>/<external_id>``) for roles that may open it, else in 工单
(``/cases?case=…``). The page's filter travels in the query string. The reporter's phone is
masked for roles that do not handle cases; a role that may reveal it does so for one case at a
time, and the reveal is audited.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access
from gis.core.access import Principal
from gis.core.metrics import CaseFilter
from gis.core.worklist import BUCKETS_ZH, DUE_SOON_WORKING_HOURS
from gis.errors import DatabaseBusy, DatabaseUnavailable, InputError, PermissionDenied
from gis.settings import PROJECT_ROOT
from ui import auth, cached, state

BUCKET_KEY = "worklist_bucket"
TABLE_KEY = "worklist_table"
_REVEALED = "worklist_revealed"
_NOTICE = "worklist_notice"
#: The query parameter that names the case to open: ``<source>/<external_id>`` (ui/pages/work.py reads it).


def case_page(user: Principal) -> auth.PageSpec:
    """Where a case opens for ``user``: 工单处置 when the role may open it, else 工单."""
    pages = {spec.url_path: spec for spec in auth.PAGES}
    return pages["work"] if auth.may_open(user, pages["work"]) else pages["cases"]


def case_params(source: str, external_id: str) -> dict[str, str | list[str]]:
    """The query string of a link to one case: the session's filter and map view (the URL's
    own, where it has them) plus ``case``."""
    params: dict[str, str | list[str]] = dict(state.carried_params())
    params.update({key: st.query_params.get_all(key) for key in (*state.FILTER_KEYS, *state.VIEW_KEYS)
                   if key in st.query_params})
    params[state.CASE_PARAM] = f"{source}/{external_id}"
    return params


def open_case(user: Principal, source: str, external_id: str) -> None:
    """Go to the case's page with the case selected (the filter travels along)."""
    # an absolute path: the pages are registered relative to app.py, wherever the caller runs
    st.switch_page(str(PROJECT_ROOT / case_page(user).file), query_params=case_params(source, external_id))


def table(cases: pd.DataFrame) -> pd.DataFrame:
    """The work list's cases with Chinese headers, as shown (``cases`` as :func:`gis.workflows.work_list` gives them)."""
    def local(times: pd.Series) -> pd.Series:
        return pd.to_datetime(times, utc=True).dt.tz_convert("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M").fillna("—")

    place = cases["micro_name"].where(cases["micro_name"].notna(), cases["exclusive_name"])
    return pd.DataFrame({
        "编号": cases["external_id"],
        "类别": cases["category_zh"],
        "状态": cases["status_zh"],
        "时效": cases["time_left_zh"],
        "办理时限": local(cases["due_at"]),
        "受理时间": local(cases["reported_at"]),
        "微网格": place.astype(object).where(place.notna(), "未分派"),
        "责任人": cases["assignee"].astype(object).where(cases["assignee"].notna(), "—"),
        "报告人电话": cases["reporter_phone"].astype(object).replace("", "—"),
    })


def _reveal(user: Principal) -> None:
    """The reveal button's callback: the chosen case's phone in clear, audited; kept for that case only."""
    key = st.session_state.get("worklist_reveal_case")
    if not key:
        return
    source, external_id = key.split("/", 1)
    try:
        phone = workflows.reveal_reporter(cached.for_user(user), source=source, external_id=external_id)
    except PermissionDenied as exc:
        st.session_state[_NOTICE] = exc.message
    except InputError:
        st.session_state[_NOTICE] = "该案件不存在或不在您的范围内。"
    except (DatabaseBusy, DatabaseUnavailable):
        st.session_state[_NOTICE] = "数据库暂时不可用，请稍后重试。"
    else:
        st.session_state[_REVEALED] = (key, phone)


def _reveal_control(user: Principal, cases: pd.DataFrame) -> None:
    """For a role that sees phones masked and may reveal them: pick one listed case, show its number."""
    if not (user.masks_personal_data and user.can(access.REVEAL)):
        return
    with_phone = cases[cases["reporter_phone"].astype(bool)]
    if not len(with_phone):
        return
    keys = [f"{s}/{e}" for s, e in zip(with_phone["source"], with_phone["external_id"])]
    labels = dict(zip(keys, (f"{e} · {p}" for e, p in zip(with_phone["external_id"], with_phone["reporter_phone"]))))
    with st.popover("显示完整号码"):
        st.selectbox("选择工单", keys, format_func=labels.get, key="worklist_reveal_case")
        st.button("显示", key="worklist_reveal", on_click=_reveal, args=(user,),
                  help="显示所选工单报告人的完整电话号码；此操作会记入审计日志。")
        notice = st.session_state.pop(_NOTICE, None)
        if notice:
            st.error(notice)
        revealed = st.session_state.get(_REVEALED)
        if revealed and revealed[0] in labels:
            st.text(f"{revealed[0].split('/', 1)[1]} 报告人电话：{revealed[1] or '—'}")


#: Height of one table row and of the header in pixels (Streamlit's default row height).
_ROW_PX = 35


def render(user: Principal, flt: CaseFilter, *, rows: int = 4) -> None:
    """Draw the 工作台 of ``user``'s scope, or of ``flt.unit`` under it (the rest of the filter does
    not apply: what needs doing now does not depend on when it was reported).

    About 90 px of buttons and caption plus a table ``rows`` rows high (it scrolls): with the
    default 4 rows, about 270 px in all.
    """
    # the buttons' value as this run sees it (a keyed widget's state is set before the script runs)
    bucket = st.session_state.get(BUCKET_KEY)
    bucket = bucket if bucket in BUCKETS_ZH else None
    data = cached.work_list(user, flt.unit, bucket)
    box = st.container(key="worklist")
    head, buttons, extra = box.columns([1, 6, 1.6], vertical_alignment="center")
    head.markdown("**工作台**")
    buttons.segmented_control("工作台", list(BUCKETS_ZH), format_func=lambda b: f"{BUCKETS_ZH[b]} {data.counts[b]}",
                              key=BUCKET_KEY, label_visibility="collapsed")
    with extra:
        _reveal_control(user, data.cases)
    until = data.cutoffs.due_soon_until
    shown = f"{data.total} 条" + (f"，列出最紧急的 {len(data.cases)} 条" if data.total > len(data.cases) else "")
    box.caption(f"{BUCKETS_ZH.get(bucket, '全部待办')}：{shown}，不限受理日期；点击一行在「{case_page(user).title}」中打开。",
                help=f"排序：督办在前，其次超期最久的，再次最先到期的。即将超期：{DUE_SOON_WORKING_HOURS:.0f} 个工作小时内"
                     f"到期（至 {until:%Y-%m-%d %H:%M}，只计工作日的上班时间）。时效按工作时间计。")
    if not len(data.cases):
        box.info("暂无需要处理的工单。")
        return
    # a click on any cell of a row opens its case, as does its check box (the row selection)
    picked = box.dataframe(table(data.cases), hide_index=True, width="stretch",
                           height=_ROW_PX * (min(rows, len(data.cases)) + 1) + 3, on_select="rerun",
                           selection_mode=["single-row", "single-cell"], key=TABLE_KEY)
    selection = picked.selection if picked else None
    chosen = [*selection.rows, *(cell[0] for cell in selection.cells)] if selection else []
    if chosen and 0 <= chosen[0] < len(data.cases):
        row = data.cases.iloc[chosen[0]]
        open_case(user, row["source"], row["external_id"])
