"""Jobs of accounts and trust: sign-in, users, the audit trail, revealing personal data.

Who may do what is :mod:`gis.core.access`; the database enforces it (row-level
security, migration 0004). These jobs add the clear message before the database
would refuse, and write the audit rows that triggers cannot see (sign-ins,
exports, reveals).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import numpy as np
import pandas as pd

from gis.core import access, roster
from gis.errors import InputError, PermissionDenied, SignInError
from gis.store import access as access_store
from gis.store import incidents as incident_store
from gis.workflows.context import Services

#: What the sign-in form says for an unknown account, a wrong password and a disabled
#: account alike, so nobody can find out which accounts exist.
WRONG_CREDENTIALS_ZH = "账号或密码错误"


def principal_of(account: dict[str, Any]) -> access.Principal:
    """The principal of a stored account row (``name, role, scope_code, display_name``)."""
    return access.Principal(name=account["name"], role=account["role"], scope=account["scope_code"],
                            display_name=account["display_name"] or account["name"])


def sign_in(services: Services, name: str, password: str) -> access.Principal:
    """Check a password and return the principal; every attempt is audited.

    After :data:`~gis.core.access.MAX_FAILED_SIGN_INS` failures in a row the
    account is locked for :data:`~gis.core.access.LOCKOUT_S` seconds.

    Raises
    ------
    SignInError
        Wrong account or password, a disabled account, or a locked one.
    """
    name = (name or "").strip()
    with services.as_user(None).transaction() as conn:
        found = access_store.fetch_credentials(conn, name=name) if name else None
        # the hash is checked even when the account is unknown: equal work, equal time
        ok = access.verify_password(found["password_hash"] if found else None, password or "")
        outcome = access_store.save_sign_in(conn, name=name, ok=ok, max_failures=access.MAX_FAILED_SIGN_INS,
                                            lockout_s=access.LOCKOUT_S) if name else "unknown"
    if outcome in ("locked", "locked_now"):
        raise SignInError(f"连续 {access.MAX_FAILED_SIGN_INS} 次登录失败，账号已锁定，"
                          f"请 {access.LOCKOUT_S // 60} 分钟后再试",
                          field="账号", fix="wait, or ask an administrator")
    if outcome != "ok":
        raise SignInError(WRONG_CREDENTIALS_ZH, field="密码", fix="check the account name and password")
    return principal_of(found)


def sign_in_verified(services: Services, name: str) -> access.Principal:
    """The principal of an account whose identity a trusted provider has verified (Streamlit's
    OIDC sign-in, ``st.login``): no password is checked, but the account must exist here and
    be enabled, and the sign-in is audited like any other.

    Raises
    ------
    SignInError
        No enabled local account has that name.
    """
    name = (name or "").strip()
    with services.as_user(None).transaction() as conn:
        found = access_store.fetch_credentials(conn, name=name) if name else None
        outcome = access_store.save_sign_in(conn, name=name, ok=found is not None,
                                            max_failures=access.MAX_FAILED_SIGN_INS,
                                            lockout_s=access.LOCKOUT_S) if name else "unknown"
    if outcome != "ok":
        raise SignInError(f"账号 {name} 未开通或已停用", field="账号", fix="ask an administrator to add the account")
    return principal_of(found)


def add_user(services: Services, name: str, *, role: str, scope: str, password: str,
             display_name: str = "") -> access.Principal:
    """Create an account (argon2id hash); the scope must be a grid of the active version.

    Raises
    ------
    InputError
        A bad name, role, scope or password, or an account that exists already.
    """
    services.require(access.MANAGE_USERS, action_zh="管理账号")
    access.check_account(name, role=role, scope=scope)
    password_hash = access.hash_password(password)
    with services.transaction() as conn:
        if access_store.fetch_user_exists(conn, name=name):
            raise InputError(f"account '{name}' exists already", field="name",
                             fix="choose another name, or disable the old account first")
        if not access_store.fetch_grid_exists(conn, code=scope):
            raise InputError(f"scope '{scope}' is not a grid of the active version", field="scope",
                             fix="pass a grid code (python -m gis grids export lists them)")
        access_store.save_user(conn, name=name, display_name=display_name or name, role=role, scope_code=scope,
                               password_hash=password_hash)
    return access.Principal(name=name, role=role, scope=scope, display_name=display_name or name)


def list_users(services: Services) -> pd.DataFrame:
    """Every account (never the password hashes): name, display_name, role, scope_code, disabled,
    failed_sign_ins, locked_until, last_sign_in_at, created_at, and ``state`` (active, locked
    or disabled)."""
    services.require(access.MANAGE_USERS, action_zh="查看账号")
    with services.connection() as conn:
        users = access_store.fetch_users(conn)
    locked = pd.to_datetime(users["locked_until"], utc=True) > pd.Timestamp.now(tz="UTC")
    users["state"] = np.select([users["disabled"].astype(bool), locked], ["disabled", "locked"], "active")
    return users


def disable_user(services: Services, name: str) -> None:
    """Disable an account: it can no longer sign in, and its sessions see nothing from the next query."""
    services.require(access.MANAGE_USERS, action_zh="停用账号")
    with services.transaction() as conn:
        if not access_store.save_user_disabled(conn, name=name):
            raise InputError(f"no account named '{name}'", field="name", fix="python -m gis users list shows them")


def set_password(services: Services, name: str, *, password: str) -> None:
    """Set a new password (and lift a lock-out)."""
    services.require(access.MANAGE_USERS, action_zh="重置密码")
    password_hash = access.hash_password(password)
    with services.transaction() as conn:
        if not access_store.save_user_password(conn, name=name, password_hash=password_hash):
            raise InputError(f"no account named '{name}'", field="name", fix="python -m gis users list shows them")


def audit_trail(services: Services, *, since: datetime | None = None, until: datetime | None = None,
                actor: str | None = None, actions: Sequence[str] | None = None, limit: int = 1000) -> pd.DataFrame:
    """The newest audit rows first: at, actor, role, action, object, before, after."""
    services.require(access.READ_AUDIT, action_zh="查看审计日志")
    with services.connection() as conn:
        return access_store.fetch_audit(conn, since=since, until=until, actor=actor, actions=actions, limit=limit)


def record_export(services: Services, *, what: str, rows: int, detail: dict[str, Any] | None = None) -> None:
    """Audit a download or export of ``rows`` rows of ``what`` (e.g. ``cases``)."""
    services.require(access.EXPORT, action_zh="导出数据")
    with services.transaction() as conn:
        access_store.save_audit(conn, action="export", object=what, detail={"rows": rows, **(detail or {})})


def masked_reporter(principal: access.Principal | None, phone: str | None) -> str:
    """The reporter's phone as this principal may see it (masked unless its role handles cases)."""
    if principal is not None and not principal.masks_personal_data:
        return phone or ""
    return roster.mask_phone(phone)


def reveal_reporter(services: Services, *, source: str, external_id: str) -> str:
    """The reporter's phone of one case in clear, for a role that may reveal it; audited."""
    principal = services.principal
    if principal is None or not (principal.can(access.REVEAL) or principal.can(access.PERSONAL_DATA)):
        raise PermissionDenied("无权查看报告人联系方式", fix="ask an administrator for a role with this right")
    with services.transaction() as conn:
        incident = incident_store.fetch_incident(conn, source=source, external_id=external_id)
        if incident is None:  # not stored, or outside the user's scope: the same answer
            raise InputError(f"no incident with source '{source}' and external_id '{external_id}'")
        access_store.save_audit(conn, action="reveal", object=f"incident:{source}/{external_id}",
                                detail={"field": "reporter_phone"})
        return incident["reporter_phone"] or ""


def whoami(services: Services) -> access.Principal | None:
    """The services' principal as the database sees it now: None for nobody, a disabled
    account, or one whose role or scope changed since it signed in (the database then shows
    such a session nothing at all). The app checks it on every page run and signs such a
    session out."""
    with services.connection() as conn:
        found = access_store.fetch_principal(conn)
    if found is None:
        return None
    return principal_of(found)
