"""工单处置: the closed loop worked in the app.

A grid worker sees the cases dispatched to them; a community, a dispatcher or a
leader the cases of their scope. A case's detail offers only the actions the
lifecycle rules allow from its status and the role permits (the handler is not
offered 核查); each action is a job that writes an event, and the full history,
photos, 回访 and 协同办 departments are shown below it. Refusals (a move the
rules forbid, a right the role lacks) are shown with their reason.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access, china_time
from gis.errors import InputError, PermissionDenied, TransitionError
from gis.workflows import operations as ops
from ui import auth, cached, state, widgets

#: The rights that open the page: acting on cases in scope or one's own, 转派 and 督办.
WORK_RIGHTS = (access.ACT, access.ACT_OWN, access.SET_STATUS, access.REDISPATCH, access.SUPERVISE)
_NOTICE = "work_notice"


def _local(moment) -> str:
    if moment is None or pd.isna(moment):
        return "—"
    return pd.Timestamp(moment).tz_convert(china_time.CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _history(events: pd.DataFrame) -> pd.DataFrame:
    statuses = widgets.status_names()
    return pd.DataFrame({
        "时间": [_local(t) for t in events["at"]],
        "操作": [ops.ACTIONS_ZH.get(a, "导入") if isinstance(a, str) else "登记" for a in events["action"]],
        "由": [statuses.get(s, "—") if isinstance(s, str) else "—" for s in events["from_status"]],
        "至": [statuses.get(s, s) for s in events["to_status"]],
        "操作人": events["actor"], "说明": events["note"],
        "照片": [int(n) if n else 0 for n in events["photos"]],
    })


def _photos(files) -> list[ops.Photo]:
    return [ops.Photo(f.name, f.type or "", f.getvalue()) for f in files or []]


def _act(user: access.Principal, action: str, case: tuple[str, str]) -> None:
    """Run one action from the form's values; a refusal is shown with its reason."""
    services = cached.for_user(user)
    source, external_id = case
    note = st.session_state.get(f"work_note_{action}", "") or ""
    try:
        if action == "accept":
            workflows.accept_incident(services, source=source, external_id=external_id, note=note)
        elif action in ("dispatch", "redispatch"):
            workflows.dispatch_incident(services, source=source, external_id=external_id, note=note,
                                        assignee=st.session_state.get(f"work_assignee_{action}", ""))
        elif action == "feedback":
            workflows.feedback_incident(services, source=source, external_id=external_id, note=note,
                                        photos=_photos(st.session_state.get("work_photos")))
        elif action == "verify":
            visit = st.session_state.get("work_visit_verify")
            workflows.verify_incident(services, source=source, external_id=external_id, note=note,
                                      visit=_visit_code(visit), visit_note=note)
        elif action == "close":
            visit = st.session_state.get("work_visit_close")
            out = workflows.close_incident(services, source=source, external_id=external_id, note=note,
                                           visit=_visit_code(visit), visit_note=note)
            if out["rework_offered"]:
                st.session_state[_NOTICE] = ("warning", "回访不满意：已记入满意率，工单已退回返工。"
                                             if out["to"] == "reworked" else "回访不满意：已结案并记入满意率。")
                return
        elif action == "return":
            workflows.return_incident(services, source=source, external_id=external_id, note=note)
        elif action == "rework":
            workflows.rework_incident(services, source=source, external_id=external_id, note=note)
        elif action == "extension_request":
            day = st.session_state.get("work_extension_until")
            new_due = datetime.combine(day, time(17, 30), china_time.CHINA_TZ)
            workflows.request_extension(services, source=source, external_id=external_id, new_due_at=new_due,
                                        reason=note)
        elif action in ("extension_approve", "extension_reject"):
            workflows.decide_extension(services, source=source, external_id=external_id,
                                       approve=action == "extension_approve", note=note)
        elif action == "supervise":
            workflows.supervise_incident(services, source=source, external_id=external_id, note=note)
        elif action == "report":
            workflows.report_department(services, source=source, external_id=external_id, note=note,
                                        department=st.session_state.get("work_department", ""))
        elif action == "visit":
            visit = st.session_state.get("work_visit_visit")
            workflows.record_visit(services, source=source, external_id=external_id, note=note,
                                   result=_visit_code(visit) or "", channel="12345")
    except (TransitionError, PermissionDenied, InputError) as exc:
        st.session_state[_NOTICE] = ("error", f"操作未完成：{exc.message}" + (f"（{exc.fix}）" if exc.fix else ""))
        return
    st.session_state[_NOTICE] = ("success", f"已{ops.ACTIONS_ZH[action]}：{external_id}")
    st.session_state.pop(f"work_note_{action}", None)


def _visit_code(label: str | None) -> str | None:
    codes = {v: k for k, v in ops.VISIT_RESULTS_ZH.items()}
    return codes.get(label) if label else None


def _action_form(user: access.Principal, detail: ops.CaseDetail) -> None:
    incident = detail.incident
    case = (incident["source"], incident["external_id"])
    me = ops.actor_name(user)
    if incident["status"] == "resolved" and incident.get("handler") == me:
        st.info("您是该工单的处置人，不能核查自己处置的工单：核查须由处置人以外的人员进行。")
    if not detail.actions:
        st.caption("当前状态下您没有可执行的操作。")
        return
    labels = {ops.ACTIONS_ZH[a]: a for a in detail.actions}
    picked = st.radio("操作", list(labels), horizontal=True, key="work_action")
    action = labels[picked]
    if action in ("dispatch", "redispatch"):
        st.text_input("处置人", key=f"work_assignee_{action}", placeholder="转派时必填，例如：黄子明")
    if action == "feedback":
        st.file_uploader("现场照片（可选，JPEG/PNG/WebP，每张不超过 5 MB）", type=["jpg", "jpeg", "png", "webp"],
                         accept_multiple_files=True, key="work_photos")
    if action in ("verify", "close", "visit"):
        options = list(ops.VISIT_RESULTS_ZH.values())
        st.radio("回访结果" + ("（可选）" if action != "visit" else ""), options, index=None if action != "visit" else 0,
                 horizontal=True, key=f"work_visit_{action}")
        if action == "verify":
            st.caption("回访不满意时请选择「返工」。")
    if action == "extension_request":
        st.date_input("延期至", value=(datetime.now(china_time.CHINA_TZ) + timedelta(days=7)).date(),
                      key="work_extension_until")
    if action == "report":
        pending = detail.departments[detail.departments["reported_at"].isna()]["department"].tolist()
        st.selectbox("报到部门", pending, key="work_department")
    required = action in ("feedback", "return", "rework", "extension_request", "report")
    st.text_area("说明" + ("（必填）" if required else "（可选）"), key=f"work_note_{action}", height=80)
    st.button(f"提交：{picked}", key="work_submit", type="primary", on_click=_act, args=(user, action, case))


def page() -> None:
    user = auth.require_user(None)
    if not any(user.can(r) for r in WORK_RIGHTS):
        st.warning("您的账号无权查看此页面。")
        st.stop()
    st.title("工单处置")
    services = cached.for_user(user)
    notice = st.session_state.pop(_NOTICE, None)
    if notice:
        getattr(st, notice[0])(notice[1])

    if user.can(access.SUPERVISE):
        late = workflows.overdue_reports(services)
        if len(late):  # 协同办 departments past their 报到 time: 督办
            st.warning(f"协同办报到超期：{len(late)} 个部门")
            widgets.table(pd.DataFrame({
                "工单": late["external_id"], "部门": late["department"],
                "角色": ["牵头" if x else "协办" for x in late["is_lead"]],
                "报到时限": [_local(t) for t in late["due_at"]]}), hide_index=True, width="stretch")
    own = user.can(access.ACT_OWN) and not (user.can(access.ACT) or user.can(access.SET_STATUS))
    include_done = st.toggle("显示已反馈、已核查的工单", value=not own, key="work_include_done")
    cases = workflows.actionable_cases(services, include_done=include_done)
    st.caption(("派给我的工单" if own else "本辖区待办工单") + f"：共 {len(cases)} 条")
    statuses, cats = widgets.status_names(), widgets.category_names()
    keys = [f"{s}/{e}" for s, e in zip(cases["source"], cases["external_id"])]
    names = {k: f"{e} · {cats.get(c, c)} · {statuses.get(s, s)} · {a or '未指定'}"
             for k, e, c, s, a in zip(keys, cases["external_id"], cases["category"], cases["status"],
                                       cases["assignee"])}
    wanted = st.query_params.get(state.CASE_PARAM)
    if wanted and wanted not in keys and "/" in wanted:
        # the case just acted on (or linked to) stays on screen after it leaves the list
        try:
            shown = workflows.case_detail(services, source=wanted.split("/", 1)[0],
                                          external_id=wanted.split("/", 1)[1]).incident
        except InputError:
            pass
        else:
            keys.insert(0, wanted)
            names[wanted] = (f"{shown['external_id']} · {cats.get(shown['category'], shown['category'])} · "
                             f"{statuses.get(shown['status'], shown['status'])} · {shown['assignee'] or '未指定'}")
    if not keys:
        st.info("暂无待办工单。")
        return
    index = keys.index(wanted) if wanted in keys else 0
    chosen = st.selectbox("工单", keys, index=index, format_func=names.get, key="work_case")
    st.query_params[state.CASE_PARAM] = chosen
    source, external_id = chosen.split("/", 1)
    detail = workflows.case_detail(services, source=source, external_id=external_id)
    incident = detail.incident

    st.subheader(f"工单 {incident['external_id']}")
    left, right = st.columns([2, 3])
    with left:
        st.text(f"状态：{statuses.get(incident['status'], incident['status'])}")
        st.text(f"类别：{cats.get(incident['category'], incident['category'])}")
        st.text(f"责任人：{incident['assignee'] or '—'}　处置人：{incident['handler'] or '—'}")
        st.text(f"微网格：{incident['micro_code'] or '未分派'}　办理时限：{_local(incident['due_at'])}")
        st.text(f"地址：{incident['address'] or '—'}")
        st.text(f"描述：{incident['description'] or '—'}")
        if detail.pending_extension:
            p = detail.pending_extension
            st.warning(f"延期申请待审批：{p['requested_by']} 申请延期至 {_local(p['new_due_at'])}，原因：{p['reason']}")
    with right:
        _action_form(user, detail)

    if incident["tier"] == "hard" and len(detail.departments):
        st.markdown("**协同办（吹哨报到）**")
        d = detail.departments
        widgets.table(pd.DataFrame({
            "部门": d["department"], "角色": ["牵头" if x else "协办" for x in d["is_lead"]],
            "报到时限": [_local(t) for t in d["due_at"]], "报到时间": [_local(t) for t in d["reported_at"]],
            "报到人": d["reported_by"].astype(object).fillna(""),
            "工作情况": d["action_note"].astype(object).fillna("")}),
            hide_index=True, width="stretch", key="work_departments")
    if len(detail.visits):
        st.markdown("**回访**")
        v = detail.visits
        widgets.table(pd.DataFrame({
            "时间": [_local(t) for t in v["at"]], "渠道": v["channel"].map(ops.VISIT_CHANNELS_ZH),
            "结果": v["result"].map(ops.VISIT_RESULTS_ZH), "说明": v["note"], "回访人": v["actor"]}),
            hide_index=True, width="stretch", key="work_visits")
    if detail.attachments:
        st.markdown("**现场照片**")
        cols = st.columns(min(4, len(detail.attachments)))
        for i, photo in enumerate(detail.attachments):
            try:
                cols[i % len(cols)].image(photo["data"], caption=f"{photo['file_name']} · {photo['uploaded_by']}")
            except Exception:  # noqa: BLE001  (a stored file the image decoder refuses: name it instead)
                cols[i % len(cols)].caption(f"{photo['file_name']}（无法显示）")
    st.markdown("**办理记录**")
    widgets.table(_history(detail.events), hide_index=True, width="stretch", key="work_history")


page()
