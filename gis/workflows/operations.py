"""The closed loop worked in the app: 受理, 派遣/转派, 处置反馈, 核查, 结案, 退回, 返工, 延期 (request and
approval), 督办, 协同办 报到, 回访 and the 待分派 queue.

Every action is one job on one transaction. It locks the case, checks the role
(:func:`allowed_actions`, a clear Chinese message first; row-level security in
the database enforces the same), checks the move against the lifecycle rules
(:mod:`gis.core.rules.transitions`), and writes an ``incident_event`` naming the
action, so the case's history shows every step. Messages are in Chinese: the app
shows them as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from gis import store
from gis.core import access, china_time, dispatch
from gis.core.access import Principal
from gis.core.rules import config, lifecycle, transitions
from gis.core.rules.deadlines import add_working_time
from gis.errors import InputError, PermissionDenied, TransitionError
from gis.store import operations as ops_store
from gis.workflows.context import Services

# -- vocabulary -------------------------------------------------------------------------------

#: Each action's Chinese name, in the order the app offers them.
ACTIONS_ZH: dict[str, str] = {
    "accept": "受理", "dispatch": "派遣", "redispatch": "转派", "feedback": "处置反馈", "verify": "核查",
    "close": "结案", "return": "退回", "rework": "返工", "extension_request": "申请延期",
    "extension_approve": "批准延期", "extension_reject": "驳回延期", "supervise": "督办", "report": "部门报到",
    "visit": "回访", "queue_assign": "分派",
}
#: 回访 results and channels (the 12345 hotline's return call is kept apart from internal checks).
VISIT_RESULTS_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
VISIT_CHANNELS_ZH = {"internal": "内部回访", "12345": "12345回访"}
#: Photo attachments: the types a phone camera produces and a bound that keeps a case row small.
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 6
#: 协同办: departments report (报到) within this working time of the case reaching them.
REPORT_WITHIN_HOURS = 7.0

_ACTING = frozenset({access.ACT, access.SET_STATUS})
#: Rights that allow an action on any case in scope; "own" marks actions a grid worker
#: (act_own) may take on the cases dispatched to them.
_RIGHTS: dict[str, tuple[frozenset[str], bool]] = {
    "accept": (_ACTING, True),
    "dispatch": (_ACTING | {access.REDISPATCH}, False),
    "redispatch": (_ACTING | {access.REDISPATCH}, False),
    "feedback": (_ACTING, True),
    "verify": (_ACTING, False),
    "close": (_ACTING, False),
    "return": (_ACTING, True),
    "rework": (_ACTING, False),
    "extension_request": (_ACTING, True),
    "extension_approve": (_ACTING, False),
    "extension_reject": (_ACTING, False),
    "supervise": (frozenset({access.SUPERVISE, access.SET_STATUS}), False),
    "report": (_ACTING | {access.REDISPATCH}, False),
    "visit": (_ACTING, False),
    "queue_assign": (frozenset({access.REDISPATCH, access.SET_STATUS}), False),
}
#: The stage each status-changing action moves to (None: the status stays).
_TARGET = {"accept": "in_progress", "dispatch": "dispatched", "feedback": "resolved", "verify": "verified",
           "close": "closed", "return": "returned", "rework": "reworked", "extension_approve": "extended",
           "supervise": "supervised"}


@dataclass(frozen=True)
class Photo:
    """One uploaded photo: its name, MIME type and bytes."""

    file_name: str
    content_type: str
    data: bytes


@dataclass
class CaseDetail:
    """One case as the 工单处置 page shows it."""

    incident: dict[str, Any]
    events: pd.DataFrame
    attachments: list[dict[str, Any]]
    visits: pd.DataFrame
    departments: pd.DataFrame
    pending_extension: dict[str, Any] | None
    actions: list[str] = field(default_factory=list)


def actor_name(principal: Principal) -> str:
    """How events, handlers and assignees name a person: the display name, else the account."""
    return principal.display_name or principal.name


# -- who may do what -------------------------------------------------------------------------


def may_take(principal: Principal | None, action: str, incident: dict[str, Any]) -> bool:
    """Whether the role (and, for a grid worker, being the case's assignee) allows ``action``."""
    if principal is None:
        return False
    rights, own = _RIGHTS[action]
    if any(principal.can(r) for r in rights):
        return True
    return own and principal.can(access.ACT_OWN) and incident.get("assignee") == actor_name(principal)


def allowed_actions(principal: Principal | None, incident: dict[str, Any], *,
                    pending_extension: dict[str, Any] | None = None,
                    departments: pd.DataFrame | None = None, rules: config.Rules | None = None) -> list[str]:
    """The actions ``principal`` may take on ``incident`` now: the moves the rules allow from its
    status that the role permits (the handler is not offered 核查; the requester of a 延期 is not
    offered its approval). Pure."""
    rules = rules or config.load_rules()
    status = incident["status"]
    nxt = set(transitions.allowed_next(status, rules=rules))
    me = actor_name(principal) if principal else ""
    out = []
    for action in ACTIONS_ZH:
        if action == "queue_assign" or not may_take(principal, action, incident):
            continue
        if action == "accept":
            ok = "in_progress" in nxt or (status == "received" and "dispatched" in nxt)
        elif action == "redispatch":
            ok = status in ("dispatched", "in_progress", "reworked", "extended", "supervised")
        elif action == "verify":
            ok = "verified" in nxt and incident.get("handler") != me
        elif action == "extension_request":
            ok = "extended" in nxt and pending_extension is None
        elif action in ("extension_approve", "extension_reject"):
            ok = pending_extension is not None and pending_extension["requested_by"] != me and "extended" in nxt
        elif action == "report":
            ok = (departments is not None and len(departments) and departments["reported_at"].isna().any()
                  and lifecycle.is_open(status))
        elif action == "visit":
            ok = status in ("verified", "closed")
        else:
            ok = _TARGET[action] in nxt
        if ok:
            out.append(action)
    return out


def _require(services: Services, action: str, incident: dict[str, Any]) -> Principal:
    """The principal, when it may take ``action`` on ``incident``; PermissionDenied in Chinese otherwise."""
    principal = services.principal
    if principal is None:
        raise PermissionDenied(f"{ACTIONS_ZH[action]}需要先登录", fix="sign in first")
    if not may_take(principal, action, incident):
        whose = "（仅限派给本人的工单）" if principal.can(access.ACT_OWN) else ""
        raise PermissionDenied(f"{principal.role_zh}（{principal.name}）无权对此工单{ACTIONS_ZH[action]}{whose}",
                               fix="ask the case's handler or a role with this right")
    return principal


def _check_move(incident: dict[str, Any], new: str, *, actor: str, note: str, action: str,
                rules: config.Rules) -> None:
    """The rules' check, with the message in Chinese for the app."""
    current = incident["status"]
    allowed = transitions.allowed_next(current, rules=rules)
    name = ACTIONS_ZH[action]
    if new not in allowed:
        choices = "、".join(lifecycle.STATUS_NAMES_ZH[s] for s in allowed) or "无（已结案）"
        raise TransitionError(f"工单当前为「{lifecycle.STATUS_NAMES_ZH[current]}」，不能{name}",
                              fix=f"当前可转到：{choices}")
    if new in rules.reason_required and not note.strip():
        raise TransitionError(f"{name}需要填写原因", field="note", fix="在说明中写明原因，例如：不属于本网格，请改派")
    if new in rules.not_by_handler and incident.get("handler") and \
            lifecycle._norm(actor) == lifecycle._norm(incident["handler"]):
        raise TransitionError(f"{actor}是该工单的处置人，不能核查自己处置的工单",
                              fix="核查须由处置人以外的人员进行")
    transitions.check_transition(current, new, actor=actor, handler=incident.get("handler"), note=note,
                                 rules=rules)


def _locked(conn, services: Services, action: str, source: str, external_id: str
            ) -> tuple[dict[str, Any], Principal]:
    """The case, locked for the action, and the principal allowed to take it.

    ``SELECT … FOR UPDATE`` sees only the rows the user may update, so a case that is
    visible but not the user's to change is told apart from one that is not visible at all.
    """
    incident = ops_store.fetch_incident_for_update(conn, source=source, external_id=external_id)
    if incident is None:
        seen = store.fetch_incident(conn, source=source, external_id=external_id)
        if seen is None:  # not stored, or outside the user's scope: the same answer
            raise InputError(f"找不到工单 {source}/{external_id}", fix="check the case number, or your scope")
        _require(services, action, seen)
        raise PermissionDenied(f"无权对此工单{ACTIONS_ZH[action]}", fix="ask the case's handler")
    return incident, _require(services, action, incident)


def _move(conn, incident: dict[str, Any], new: str, *, actor: str, note: str, action: str,
          rules: config.Rules, **changes: Any) -> int:
    _check_move(incident, new, actor=actor, note=note, action=action, rules=rules)
    ops_store.save_incident_action(conn, incident_id=incident["id"], status=new, **changes)
    event = ops_store.save_action_event(conn, incident_id=incident["id"], from_status=incident["status"],
                                        to_status=new, actor=actor, note=note, action=action)
    incident["status"] = new
    return event


def _result(incident: dict[str, Any], from_status: str, action: str) -> dict[str, Any]:
    return {"source": incident["source"], "external_id": incident["external_id"], "from": from_status,
            "to": incident["status"], "action": action}


# -- the actions -------------------------------------------------------------------------------


def accept_incident(services: Services, *, source: str, external_id: str, note: str = "") -> dict[str, Any]:
    """受理: the handler takes the case and starts work (→ 处置). A case still at 受理 passes
    through 派遣 to its current assignee first: two moves, two events."""
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "accept", source, external_id)
        actor, start = actor_name(principal), incident["status"]
        if start == "received":
            _move(conn, incident, "dispatched", actor=actor, note=note or "受理并派遣", action="dispatch",
                  rules=rules)
        _move(conn, incident, "in_progress", actor=actor, note=note or "已受理，开始处置", action="accept",
              rules=rules)
        return _result(incident, start, "accept")


def dispatch_incident(services: Services, *, source: str, external_id: str, assignee: str | None = None,
                      note: str = "") -> dict[str, Any]:
    """派遣 (受理, 退回 or 督办 → 派遣), or 转派 to ``assignee`` while the case is being worked on
    (the status stays; the event and the audit trigger's 'redispatch' row record the change).
    A hard-tier case gets its 协同办 departments from the rules."""
    rules = config.load_rules()
    assignee = (assignee or "").strip() or None
    with services.transaction() as conn:
        # 派遣 and 转派 need the same rights
        incident, principal = _locked(conn, services, "dispatch", source, external_id)
        start = incident["status"]
        if "dispatched" in transitions.allowed_next(start, rules=rules):
            if assignee is None:  # 派遣 by the rules: whoever serves the case's grid at its tier, and why
                chosen = _dispatch_by_rules(services, conn, incident)
                assignee = chosen["assignee"] or None
                note = note or (f"派遣给{assignee}：" if assignee else "派遣：") + dispatch.dispatch_note(
                    chosen["reason"], chosen["informed"])
            note = note or f"派遣给{assignee}"
            _move(conn, incident, "dispatched", actor=actor_name(principal), note=note, action="dispatch",
                  rules=rules, assignee=assignee)
            action = "dispatch"
        else:
            if not lifecycle.is_open(start):
                raise TransitionError(f"工单当前为「{lifecycle.STATUS_NAMES_ZH[start]}」，不能转派",
                                      fix="只有办理中的工单可以转派")
            if assignee is None or assignee == incident["assignee"]:
                raise InputError("转派需要填写另一位处置人", field="assignee", fix="写明转派给谁")
            ops_store.save_incident_action(conn, incident_id=incident["id"], status=start, assignee=assignee)
            ops_store.save_action_event(conn, incident_id=incident["id"], from_status=start, to_status=start,
                                        actor=actor_name(principal), action="redispatch",
                                        note=note or f"由{incident['assignee'] or '未指定'}转派给{assignee}")
            action = "redispatch"
        if incident["tier"] == "hard":
            _ensure_departments(conn, incident, rules=rules)
        return _result(incident, start, action)


def _dispatch_by_rules(services: Services, conn, incident: dict[str, Any]) -> dict[str, Any]:
    """The dispatch rules' choice for one stored case: assignee, reason, informed, departments."""
    from gis.workflows.incidents import dispatch_context, dispatches
    case = pd.DataFrame([{key: incident.get(key) for key in ("tier", "micro_code", "exclusive_code", "category")}])
    row = dispatches(case, context=dispatch_context(services, conn)).iloc[0]
    return {key: (None if not isinstance(value, (list, tuple)) and pd.isna(value) else value)
            for key, value in row.items()}


def feedback_incident(services: Services, *, source: str, external_id: str, note: str,
                      photos: Iterable[Photo] = ()) -> dict[str, Any]:
    """处置反馈: the handler reports the work done (→ 反馈), with a note and optional photos
    (JPEG, PNG or WebP, at most :data:`MAX_PHOTOS` of :data:`MAX_PHOTO_BYTES` each), stored in
    the database with the event. The actor becomes the case's handler."""
    photos = list(photos)
    if not (note or "").strip():
        raise InputError("处置反馈需要填写处置情况", field="note", fix="写明做了什么，例如：已清运，现场已恢复")
    _check_photos(photos)
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "feedback", source, external_id)
        actor, start = actor_name(principal), incident["status"]
        event = _move(conn, incident, "resolved", actor=actor, note=note, action="feedback", rules=rules,
                      handler=actor)
        for photo in photos:
            ops_store.save_attachment(conn, incident_id=incident["id"], event_id=event, file_name=photo.file_name,
                                      content_type=photo.content_type, data=photo.data, uploaded_by=actor)
        return {**_result(incident, start, "feedback"), "photos": len(photos)}


def _check_photos(photos: list[Photo]) -> None:
    if len(photos) > MAX_PHOTOS:
        raise InputError(f"最多上传{MAX_PHOTOS}张照片，收到{len(photos)}张", field="photos", fix="remove some photos")
    for p in photos:
        if p.content_type not in PHOTO_TYPES:
            raise InputError(f"照片「{p.file_name}」的类型 {p.content_type} 不支持", field="photos",
                             fix="upload JPEG, PNG or WebP photos")
        if not p.data or len(p.data) > MAX_PHOTO_BYTES:
            raise InputError(f"照片「{p.file_name}」大小为 {len(p.data)} 字节，须在 1 字节到 5 MB 之间",
                             field="photos", fix="upload a smaller photo")


def verify_incident(services: Services, *, source: str, external_id: str, note: str = "",
                    visit: str | None = None, visit_note: str = "") -> dict[str, Any]:
    """核查 (反馈 → 核查) by someone other than the handler, optionally with the resident's 回访.
    A 不满意 回访 is refused here with the fix 返工 (:func:`rework_incident`)."""
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "verify", source, external_id)
        actor, start = actor_name(principal), incident["status"]
        if visit == "dissatisfied":
            raise TransitionError("回访不满意，核查不能通过", fix="请选择返工，并写明原因")
        _move(conn, incident, "verified", actor=actor, note=note or "核查通过", action="verify", rules=rules)
        if visit:
            _save_visit(conn, incident, result=visit, note=visit_note, channel="internal", actor=actor)
        return _result(incident, start, "verify")


def close_incident(services: Services, *, source: str, external_id: str, note: str = "",
                   visit: str | None = None, visit_note: str = "", channel: str = "internal") -> dict[str, Any]:
    """结案, with the 回访 at closing (满意 / 基本满意 / 不满意 and a note); a 不满意 回访 after 核查
    sends the case back for rework (返工) instead, recorded with the visit. A hard-tier case closes
    only after its lead department has reported (协同办). A case closed straight from 受理 or 退回
    (不予立案) needs the reason."""
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "close", source, external_id)
        actor, start = actor_name(principal), incident["status"]
        if start in ("received", "returned") and not note.strip():
            raise TransitionError("未经处置直接结案（不予立案）需要填写原因", field="note",
                                  fix="写明原因，例如：重复工单")
        if incident["tier"] == "hard":
            departments = ops_store.fetch_departments(conn, incident_id=incident["id"])
            lead = departments[departments["is_lead"]]
            if not len(lead) or lead["reported_at"].isna().all():
                name = lead["department"].iloc[0] if len(lead) else _lead_of(incident, rules)
                raise TransitionError(f"协同办工单须牵头部门（{name}）报到后才能结案", fix="请先由牵头部门报到")
        if visit == "dissatisfied" and "reworked" in transitions.allowed_next(start, rules=rules):
            # the resident is not satisfied: the case goes back for rework (返工) instead of closing,
            # and the 回访 counts in 满意率
            _move(conn, incident, "reworked", actor=actor, action="rework", rules=rules,
                  note="回访不满意，返工" + (f"：{visit_note}" if visit_note.strip() else ""))
            _save_visit(conn, incident, result=visit, note=visit_note, channel=channel, actor=actor)
            return {**_result(incident, start, "rework"), "rework_offered": True}
        _move(conn, incident, "closed", actor=actor, note=note or "结案", action="close", rules=rules)
        if visit:
            _save_visit(conn, incident, result=visit, note=visit_note, channel=channel, actor=actor)
        return {**_result(incident, start, "close"), "rework_offered": visit == "dissatisfied"}


def return_incident(services: Services, *, source: str, external_id: str, note: str) -> dict[str, Any]:
    """退回: not this handler's case (→ 退回, awaiting re-dispatch); the reason is required."""
    return _simple(services, "return", source, external_id, note)


def rework_incident(services: Services, *, source: str, external_id: str, note: str) -> dict[str, Any]:
    """返工: the check or the resident found the work wanting (反馈 → 返工); the reason is required."""
    if not (note or "").strip():
        raise InputError("返工需要填写原因", field="note", fix="写明哪里不合格")
    return _simple(services, "rework", source, external_id, note)


def supervise_incident(services: Services, *, source: str, external_id: str, note: str = "") -> dict[str, Any]:
    """督办: a leader puts an open case under supervision (→ 督办)."""
    return _simple(services, "supervise", source, external_id, note or "领导督办")


def _simple(services: Services, action: str, source: str, external_id: str, note: str) -> dict[str, Any]:
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, action, source, external_id)
        start = incident["status"]
        _move(conn, incident, _TARGET[action], actor=actor_name(principal), note=note or "", action=action,
              rules=rules)
        return _result(incident, start, action)


def request_extension(services: Services, *, source: str, external_id: str, new_due_at: datetime,
                      reason: str) -> dict[str, Any]:
    """延期 step one: the handler asks for a later deadline, with the reason; the status stays
    until someone else approves (:func:`decide_extension`)."""
    if not (reason or "").strip():
        raise InputError("申请延期需要填写原因", field="reason", fix="写明为什么需要更多时间")
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "extension_request", source, external_id)
        status = incident["status"]
        if "extended" not in transitions.allowed_next(status, rules=rules):
            raise TransitionError(f"工单当前为「{lifecycle.STATUS_NAMES_ZH[status]}」，不能申请延期",
                                  fix="只有办理中的工单可以申请延期")
        if incident["due_at"] is not None and new_due_at <= incident["due_at"]:
            raise InputError("延期后的时限须晚于当前时限", field="new_due_at", fix="choose a later date")
        if ops_store.fetch_pending_extension(conn, incident_id=incident["id"]) is not None:
            raise TransitionError("该工单已有待审批的延期申请", fix="等待审批后再申请")
        actor = actor_name(principal)
        ops_store.save_extension_request(conn, incident_id=incident["id"], requested_by=actor,
                                         new_due_at=new_due_at, reason=reason)
        ops_store.save_action_event(conn, incident_id=incident["id"], from_status=status, to_status=status,
                                    actor=actor, action="extension_request",
                                    note=f"申请延期至{_local(new_due_at)}：{reason}")
        return _result(incident, status, "extension_request")


def decide_extension(services: Services, *, source: str, external_id: str, approve: bool,
                     note: str = "") -> dict[str, Any]:
    """延期 step two: someone other than the requester approves (→ 延期, the new deadline) or
    rejects (the status stays)."""
    rules = config.load_rules()
    action = "extension_approve" if approve else "extension_reject"
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, action, source, external_id)
        actor, start = actor_name(principal), incident["status"]
        pending = ops_store.fetch_pending_extension(conn, incident_id=incident["id"])
        if pending is None:
            raise TransitionError("该工单没有待审批的延期申请", fix="the handler asks first")
        if lifecycle._norm(pending["requested_by"]) == lifecycle._norm(actor):
            raise TransitionError("申请人不能审批自己的延期申请", fix="延期须由申请人以外的人员审批")
        ops_store.save_extension_decision(conn, extension_id=pending["id"], decided_by=actor, approved=approve)
        if approve:
            _move(conn, incident, "extended", actor=actor, action=action, rules=rules,
                  note=note or f"批准延期至{_local(pending['new_due_at'])}", due_at=pending["new_due_at"])
        else:
            ops_store.save_action_event(conn, incident_id=incident["id"], from_status=start, to_status=start,
                                        actor=actor, action=action, note=note or "驳回延期申请")
        return _result(incident, start, action)


def _local(moment: datetime) -> str:
    return pd.Timestamp(moment).tz_convert(china_time.CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# -- 协同办 -------------------------------------------------------------------------------------


def _lead_of(incident: dict[str, Any], rules: config.Rules) -> str:
    return rules.category(incident["category"]).lead_department


def _ensure_departments(conn, incident: dict[str, Any], *, rules: config.Rules) -> None:
    """Store the lead and co-departments of a hard-tier case (from the rules), once."""
    category = rules.category(incident["category"])
    names = [category.lead_department, *[d for d in category.co_departments if d != category.lead_department]]
    now = datetime.now(china_time.CHINA_TZ)
    due = add_working_time(now, hours=REPORT_WITHIN_HOURS, rules=rules)
    ops_store.save_departments(conn, incident_id=incident["id"], departments=names,
                               leads=[i == 0 for i in range(len(names))], due_at=due)


def report_department(services: Services, *, source: str, external_id: str, department: str,
                      note: str) -> dict[str, Any]:
    """协同办 报到: ``department`` records who reported, when and what it did (an event too)."""
    if not (note or "").strip():
        raise InputError("报到需要写明所做工作", field="note", fix="例如：已到场查看，安排维修")
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "report", source, external_id)
        if incident["tier"] != "hard":
            raise TransitionError("只有疑难（协同办）工单需要部门报到", fix="escalate the case first")
        _ensure_departments(conn, incident, rules=rules)
        actor = actor_name(principal)
        row = ops_store.save_department_report(conn, incident_id=incident["id"], department=department,
                                               reported_by=actor, action_note=note)
        if row is None:
            raise InputError(f"「{department}」不是该工单的牵头或协办部门", field="department",
                             fix="choose one of the case's departments")
        role = "牵头" if row["is_lead"] else "协办"
        ops_store.save_action_event(conn, incident_id=incident["id"], from_status=incident["status"],
                                    to_status=incident["status"], actor=actor, action="report",
                                    note=f"{department}（{role}）报到：{note}")
        return _result(incident, incident["status"], "report")


def overdue_reports(services: Services, *, now: datetime | None = None) -> pd.DataFrame:
    """协同办 departments past their 报到 time on open cases in view: the 督办 list for leaders."""
    now = now or datetime.now(china_time.CHINA_TZ)
    with services.connection() as conn:
        return ops_store.fetch_overdue_reports(conn, now=now)


# -- 回访 and satisfaction ----------------------------------------------------------------------


def _save_visit(conn, incident, *, result: str, note: str, channel: str, actor: str) -> None:
    if result not in VISIT_RESULTS_ZH:
        raise InputError(f"回访结果「{result}」无效", field="visit", fix="满意、基本满意或不满意")
    if channel not in VISIT_CHANNELS_ZH:
        raise InputError(f"回访渠道「{channel}」无效", field="channel", fix="internal or 12345")
    ops_store.save_visit(conn, incident_id=incident["id"], channel=channel, result=result, note=note, actor=actor)
    ops_store.save_action_event(conn, incident_id=incident["id"], from_status=incident["status"],
                                to_status=incident["status"], actor=actor, action="visit",
                                note=f"{VISIT_CHANNELS_ZH[channel]}：{VISIT_RESULTS_ZH[result]}"
                                     + (f"，{note}" if note else ""))


def record_visit(services: Services, *, source: str, external_id: str, result: str, note: str = "",
                 channel: str = "12345") -> dict[str, Any]:
    """A 回访 after 核查 or 结案 (the 12345 hotline's return call by default), with an event."""
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "visit", source, external_id)
        if incident["status"] not in ("verified", "closed"):
            raise TransitionError("核查或结案后才能回访", fix="先完成核查")
        _save_visit(conn, incident, result=result, note=note, channel=channel, actor=actor_name(principal))
        return {**_result(incident, incident["status"], "visit"), "rework_offered": result == "dissatisfied"}


def satisfaction_rate(counts: dict[str, int]) -> float | None:
    """满意率 = (满意 + 基本满意) / cases with a 回访; None when no case has one."""
    visited = int(counts.get("visited") or 0)
    if not visited:
        return None
    return (int(counts.get("satisfied") or 0) + int(counts.get("basically_satisfied") or 0)) / visited


def satisfaction(services: Services, *, since: datetime | None = None, until: datetime | None = None,
                 channel: str | None = None) -> dict[str, Any]:
    """Counts of the cases in view with a 回访 (by their latest visit) and the 满意率 (0–1)."""
    with services.connection() as conn:
        counts = dict(ops_store.fetch_satisfaction(conn, channel=channel, since=since, until=until))
    return {**{k: int(v) for k, v in counts.items()}, "rate": satisfaction_rate(counts)}


# -- reading -----------------------------------------------------------------------------------


def actionable_cases(services: Services, *, include_done: bool = False, limit: int = 500) -> pd.DataFrame:
    """The cases the user works on, soonest deadline first: a grid worker's own (dispatched to
    them), everyone else's in scope (row-level security); closed cases left out, and the
    反馈/核查 ones too unless ``include_done`` (a verifier wants them: they are kept by default
    for roles that verify)."""
    principal = services.require(access.READ, action_zh="查看工单")
    own = not principal.can(access.ACT) and not principal.can(access.SET_STATUS) and principal.can(access.ACT_OWN)
    excluded = ["closed"] if (include_done or not own) else list(lifecycle.DONE_STATUSES)
    with services.connection() as conn:
        return ops_store.fetch_actionable(conn, excluded=excluded, assignee=actor_name(principal) if own else None,
                                          limit=limit)


def case_detail(services: Services, *, source: str, external_id: str) -> CaseDetail:
    """One case with its events (each naming its action), photos, 回访, 协同办 departments, the
    pending 延期 request and the actions the user may take now."""
    from gis.workflows.incidents import incident_history  # the masked view of the case
    incident, _ = incident_history(services, source=source, external_id=external_id)
    rules = config.load_rules()
    with services.connection() as conn:
        iid = incident["id"]
        events = ops_store.fetch_action_events(conn, incident_id=iid)
        attachments = ops_store.fetch_attachments(conn, incident_id=iid)
        visits = ops_store.fetch_visits(conn, incident_id=iid)
        departments = ops_store.fetch_departments(conn, incident_id=iid)
        pending = ops_store.fetch_pending_extension(conn, incident_id=iid)
    if incident["tier"] == "hard" and not len(departments):
        category = rules.category(incident["category"])  # not stored yet: what dispatch will store
        names = [category.lead_department, *[d for d in category.co_departments
                                              if d != category.lead_department]]
        departments = pd.DataFrame({"department": names, "is_lead": [i == 0 for i in range(len(names))]}) \
            .reindex(columns=ops_store.DEPARTMENT_COLUMNS)
    stored_departments = departments if departments["due_at"].notna().any() else None
    actions = allowed_actions(services.principal, incident, pending_extension=pending,
                              departments=stored_departments, rules=rules)
    return CaseDetail(incident, events, attachments, visits, departments, pending, actions)


# -- 待分派 --------------------------------------------------------------------------------------


def unassigned_queue(services: Services, *, limit: int = 200) -> pd.DataFrame:
    """待分派: open cases in view outside every micro-grid, oldest first, with the nearest
    micro-grid (``suggested_code``), its distance in metres (``suggested_distance_m``) and the
    address register's candidates where the incident table carries them (else None)."""
    services.require(access.READ, action_zh="查看待分派工单")
    with services.connection() as conn:
        return ops_store.fetch_queue(conn, limit=limit)


def queue_count(services: Services) -> int:
    """How many open cases in view wait in 待分派."""
    with services.connection() as conn:
        return ops_store.fetch_queue_count(conn)


def assign_from_queue(services: Services, *, source: str, external_id: str, micro_code: str,
                      note: str = "") -> dict[str, Any]:
    """Put a 待分派 case into ``micro_code`` and dispatch it to whoever serves that micro-grid
    at its tier (the dispatch rules), with an event; the case goes to 派遣 where the rules allow."""
    from gis.workflows.incidents import dispatch_context
    rules = config.load_rules()
    with services.transaction() as conn:
        incident, principal = _locked(conn, services, "queue_assign", source, external_id)
        if incident["micro_code"] is not None:
            raise InputError(f"工单 {source}/{external_id} 已在微网格 {incident['micro_code']}",
                             fix="use 转派 on the 工单处置 page")
        version = dispatch_context(services, conn).version
        if version is None or micro_code not in set(version.level("micro")["code"]):
            raise InputError(f"微网格 {micro_code} 不存在", field="micro_code", fix="choose a micro-grid code")
        assignee = _dispatch_by_rules(services, conn, {**incident, "micro_code": micro_code,
                                                       "exclusive_code": None})["assignee"]
        start = incident["status"]
        actor = actor_name(principal)
        text = note or f"分派至微网格{micro_code}" + (f"，派遣给{assignee}" if assignee else "")
        if "dispatched" in transitions.allowed_next(start, rules=rules):
            _move(conn, incident, "dispatched", actor=actor, note=text, action="queue_assign", rules=rules,
                  micro_code=micro_code, assignee=assignee)
        else:
            ops_store.save_incident_action(conn, incident_id=incident["id"], status=start, micro_code=micro_code,
                                           assignee=assignee)
            ops_store.save_action_event(conn, incident_id=incident["id"], from_status=start, to_status=start,
                                        actor=actor, note=text, action="queue_assign")
        if incident["tier"] == "hard":
            _ensure_departments(conn, incident, rules=rules)
        return {**_result(incident, start, "queue_assign"), "micro_code": micro_code, "assignee": assignee}


# -- demo ----------------------------------------------------------------------------------------


def save_demo_visits(conn, *, batch_id: int, seed: int) -> int:
    """Synthesise and store 回访 for the closed cases of a demo batch (满意率 ≈ 95 %), inside the
    demo load's transaction; returns how many."""
    from gis.demo.visits import demo_visits
    closed = ops_store.fetch_closed_of_batch(conn, batch_id=batch_id)
    return ops_store.save_visits(conn, demo_visits(closed, seed=seed))
