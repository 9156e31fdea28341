"""Accounts, sign-in attempts and the audit trail (policies and triggers: migration 0004)."""

from __future__ import annotations

import json
from typing import Any, Sequence

import pandas as pd

from gis.store import db

USER_COLUMNS = ["name", "display_name", "role", "scope_code", "disabled", "failed_sign_ins", "locked_until",
                "last_sign_in_at", "created_at"]
AUDIT_COLUMNS = ["at", "actor", "role", "action", "object", "before", "after"]


def fetch_credentials(conn, *, name: str) -> dict[str, Any] | None:
    """The account's role, scope and password hash (None for an unknown or system account)."""
    return db.fetch_one(conn, "fetch_credentials", {"name": name})


def save_sign_in(conn, *, name: str, ok: bool, max_failures: int, lockout_s: int) -> str:
    """Record one attempt (and audit it); returns ``ok``, ``failed``, ``locked_now``, ``locked``,
    ``disabled`` or ``unknown``."""
    return db.fetch_one(conn, "save_sign_in", {"name": name, "ok": ok, "max_failures": max_failures,
                                               "lockout_s": lockout_s})["outcome"]


def fetch_principal(conn) -> dict[str, Any] | None:
    """The user the transaction runs for, as the database sees it (None: nobody)."""
    return db.fetch_one(conn, "fetch_principal")


def save_user(conn, *, name: str, display_name: str, role: str, scope_code: str, password_hash: str) -> int:
    return db.fetch_one(conn, "save_user", {"name": name, "display_name": display_name, "role": role,
                                            "scope_code": scope_code, "password_hash": password_hash})["id"]


def save_user_disabled(conn, *, name: str) -> int:
    return db.execute(conn, "save_user_disabled", {"name": name})


def save_user_password(conn, *, name: str, password_hash: str) -> int:
    return db.execute(conn, "save_user_password", {"name": name, "password_hash": password_hash})


def fetch_users(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_users"), columns=USER_COLUMNS)


def fetch_user_exists(conn, *, name: str) -> bool:
    return bool(db.fetch_one(conn, "fetch_user_exists", {"name": name})["found"])


def fetch_grid_exists(conn, *, code: str) -> bool:
    return bool(db.fetch_one(conn, "fetch_grid_exists", {"code": code})["found"])


def save_audit(conn, *, action: str, object: str, detail: dict[str, Any] | None = None) -> None:
    """Append one audit row for the transaction's user (who and when are the database's)."""
    db.fetch_one(conn, "save_audit", {"action": action, "object": object,
                                      "detail": None if detail is None else json.dumps(detail, ensure_ascii=False,
                                                                                      default=str)})


def fetch_audit(conn, *, since=None, until=None, actor: str | None = None, actions: Sequence[str] | None = None,
                limit: int = 1000) -> pd.DataFrame:
    rows = db.fetch_all(conn, "fetch_audit", {"since": since, "until": until, "actor": actor,
                                              "actions": list(actions) if actions else None, "limit": limit})
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)
