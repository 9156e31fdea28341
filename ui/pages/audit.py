"""审计日志: who signed in, changed, exported or revealed what, newest first.

For roles with the right to read the audit trail (leaders, administrators). The
trail is read fresh on every run (never cached): it is the record of what
happened, and it is short.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from gis import workflows
from gis.core import access
from gis.core.china_time import CHINA_TZ
from gis.core.metrics import SOURCES_ZH
from gis.core.rules import config
from ui import auth, cached, state, widgets

LIMIT = 1000
DEFAULT_DAYS = 7

ACTIONS_ZH = {
    "sign_in": "登录", "sign_in_failed": "登录失败", "status_change": "状态变更", "redispatch": "转派",
    "export": "导出", "reveal": "查看完整号码", "import": "导入工单", "grids_commit": "启用网格版本",
    "user_add": "新增账号", "user_change": "修改账号",
}
_OUTCOMES_ZH = {"ok": "成功", "failed": "账号或密码错误", "unknown": "账号或密码错误", "disabled": "账号已停用",
                "locked": "账号锁定中", "locked_now": "失败次数过多，账号已锁定"}
_FIELDS_ZH = {
    "status": "状态", "assignee": "责任人", "tier": "层级", "outcome": "结果", "rows": "行数", "file": "文件",
    "field": "字段", "format": "格式", "path": "路径", "role": "角色", "scope_code": "范围", "display_name": "姓名",
    "name": "账号", "disabled": "停用", "password": "密码", "note": "说明", "effective_date": "生效日期",
    "actor": "操作人", "accepted": "接收", "inserted": "新增", "updated": "更新", "rejected": "拒收",
}
_VALUES_ZH = {"reporter_phone": "报告人电话", "changed": "已修改"}
_OBJECTS_ZH = {"incident": "工单", "user": "账号", "grid_version": "网格版本", "import_batch": "导入批次"}
_WHATS_ZH = {"cases": "工单列表", "bulletin": "通报", "incidents": "全部工单"}


def readable(change: Any) -> str:
    """A before/after record as 字段：值 pairs in Chinese ('' for none)."""
    if not isinstance(change, dict) or not change:
        return ""
    return "；".join(f"{_FIELDS_ZH.get(k, k)}：{_value(k, v)}" for k, v in change.items())


def _value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "status":
        return widgets.status_names().get(value, str(value))
    if key == "tier":
        tiers = config.load_rules().tiers
        return tiers[value].label_zh if value in tiers else str(value)
    if key == "outcome":
        return _OUTCOMES_ZH.get(value, str(value))
    if key == "role":
        return access.ROLE_NAMES_ZH.get(value, str(value))
    return _VALUES_ZH.get(str(value), str(value))


def object_name(obj: str) -> str:
    """``incident:12345/A1`` → ``工单 12345热线/A1``; ``user:zhang`` → ``账号 zhang``."""
    kind, sep, rest = (obj or "").partition(":")
    if not sep:
        return _WHATS_ZH.get(kind, kind)
    if kind == "incident":
        source, _, external_id = rest.partition("/")
        rest = f"{SOURCES_ZH.get(source, source)}/{external_id}"
    return f"{_OBJECTS_ZH.get(kind, kind)} {rest}"


def audit_table(trail: pd.DataFrame) -> pd.DataFrame:
    """The audit rows with Chinese headers, names and readable changes."""
    at = pd.to_datetime(trail["at"], utc=True).dt.tz_convert("Asia/Shanghai")
    return pd.DataFrame({
        "时间": at.dt.strftime("%Y-%m-%d %H:%M:%S"),
        "账号": trail["actor"],
        "角色": trail["role"].map(lambda r: access.ROLE_NAMES_ZH.get(r, r or "—")),
        "操作": trail["action"].map(lambda a: ACTIONS_ZH.get(a, a)),
        "对象": trail["object"].map(object_name),
        "变更前": trail["before"].map(readable),
        "变更后": trail["after"].map(readable),
    })


user = auth.require_user(access.READ_AUDIT)
st.title("审计日志")
today = state.today()
c1, c2, c3 = st.columns([2, 2, 3])
picked = c1.date_input("日期范围", value=(today - timedelta(days=DEFAULT_DAYS - 1), today),
                       max_value=today + timedelta(days=1), key="audit_dates")
first, last = picked if isinstance(picked, (tuple, list)) and len(picked) == 2 else (today, today)
actor = c2.text_input("操作人账号", key="audit_actor", placeholder="全部账号")
actions = c3.multiselect("操作类型", list(ACTIONS_ZH), format_func=ACTIONS_ZH.get, placeholder="全部操作",
                         select_all=False, key="audit_actions")

trail = workflows.audit_trail(
    cached.for_user(user), since=datetime.combine(first, time.min, CHINA_TZ),
    until=datetime.combine(last + timedelta(days=1), time.min, CHINA_TZ), actor=actor.strip() or None,
    actions=actions or None, limit=LIMIT)
st.caption(f"共 {len(trail)} 条{'（已达显示上限，请缩小日期范围）' if len(trail) >= LIMIT else ''}")
widgets.table(audit_table(trail), hide_index=True, width="stretch", height=560, key="audit_table")
