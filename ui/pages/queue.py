"""待分派: open cases outside every micro-grid, with the nearest micro-grid and its distance and,
where the address register offers them, the address candidates; one click assigns a case to a
micro-grid and dispatches it to whoever serves it (an event records it)."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access, china_time
from gis.errors import InputError, PermissionDenied, TransitionError
from ui import auth, cached, widgets

_NOTICE = "queue_notice"


def _candidates(value) -> str:
    """Address candidates as stored (a JSON list of objects or names), shortened for the table."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        return str(items)
    names = [str(i.get("address") or i.get("name") or i.get("building") or i) if isinstance(i, dict) else str(i)
             for i in items[:3]]
    return "；".join(names)


def _first_candidate_micro(value) -> str:
    """The micro-grid of the best address candidate, '' when there is none."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    items = json.loads(value) if isinstance(value, str) else value
    first = items[0] if isinstance(items, list) and items else None
    return str(first.get("micro_code") or "") if isinstance(first, dict) else ""


def _assign(user: access.Principal, case: tuple[str, str]) -> None:
    code = (st.session_state.get("queue_micro") or "").strip()
    try:
        out = workflows.assign_from_queue(cached.for_user(user), source=case[0], external_id=case[1], micro_code=code)
    except (InputError, PermissionDenied, TransitionError) as exc:
        st.session_state[_NOTICE] = ("error", f"分派未完成：{exc.message}")
        return
    message = f"已分派 {case[1]} 至微网格 {out['micro_code']}，派遣给{out['assignee'] or '（无在册人员）'}"
    st.session_state[_NOTICE] = ("success", message)
    st.session_state.pop("queue_micro", None)


def page() -> None:
    user = auth.require_user(access.REDISPATCH)
    st.title("待分派")
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        getattr(st, notice[0])(notice[1])
    queue = workflows.unassigned_queue(cached.for_user(user))
    st.caption(f"未落入任何微网格的未办结工单：共 {len(queue)} 条")
    if not len(queue):
        st.info("没有待分派的工单。")
        return
    cats = widgets.category_names()
    table = pd.DataFrame({
        "编号": queue["external_id"], "类别": queue["category"].map(lambda c: cats.get(c, c)),
        "受理时间": pd.to_datetime(queue["reported_at"], utc=True).dt.tz_convert(china_time.CHINA_TZ)
        .dt.strftime("%Y-%m-%d %H:%M"),
        "地址": queue["address"].fillna(""),
        "最近微网格": queue["suggested_code"].fillna(""),
        "距离(米)": queue["suggested_distance_m"].round(0),
        "地址候选": [_candidates(v) for v in queue["address_candidates"]],
    })
    widgets.table(table, hide_index=True, width="stretch", key="queue_table")
    keys = [f"{s}/{e}" for s, e in zip(queue["source"], queue["external_id"])]
    chosen = st.selectbox("工单", keys, format_func=lambda k: k.split("/", 1)[1], key="queue_case")
    row = queue.iloc[keys.index(chosen)]
    if "queue_micro" not in st.session_state or st.session_state.get("queue_for") != chosen:
        st.session_state["queue_micro"] = row["suggested_code"] or _first_candidate_micro(row["address_candidates"])
        st.session_state["queue_for"] = chosen
    st.text_input("分派至微网格（默认为最近的微网格或首选地址候选）", key="queue_micro")
    source, external_id = chosen.split("/", 1)
    st.button("分派并派遣", key="queue_assign", type="primary", on_click=_assign, args=(user, (source, external_id)))


page()
