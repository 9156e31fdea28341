"""Accounts on the shared demo database for the app's tests: one per role, with known passwords.

``demo_database_url`` is shared by the whole session (and by the browser tests),
so accounts are made once per session and idempotently: an account that exists
already gets its known password again (which also lifts a lock-out).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gis import workflows
from gis.core.access import SYSTEM, Principal
from gis.workflows import Services

DISTRICT = "410102"
STREET = "410102009"  # 航海西路街道
PASSWORD = "ui-test-password-1"


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    scope: str
    password: str
    principal: Principal


def ensure_account(services: Services, name: str, *, role: str, scope: str, password: str,
                   display_name: str) -> None:
    """Create the account, or give an existing one ``password`` again."""
    if name in set(workflows.list_users(services)["name"]):
        workflows.set_password(services, name, password=password)
    else:
        workflows.add_user(services, name, role=role, scope=scope, password=password, display_name=display_name)


def demo_scopes(grids) -> dict[str, str]:
    """The scope of each role: the leader heads 航海西路街道; the community account and the grid
    worker serve that street's first community and its first tertiary grid; the others the district."""
    community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == STREET), "code"].min()
    tertiary = grids.loc[(grids["level"] == "grid") & (grids["parent_code"] == community), "code"].min()
    return {"leader": STREET, "community": community, "gridworker": tertiary, "dispatcher": DISTRICT,
            "planner": DISTRICT, "analyst": DISTRICT, "admin": DISTRICT}


@pytest.fixture(scope="session")
def accounts(demo_database_url) -> dict[str, Account]:
    """``accounts['community']``: an account per role on the demo database (name ``ui_<role>``),
    signed in once through :func:`gis.workflows.sign_in` (the password is checked for real)."""
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=2) as system:
        scopes = demo_scopes(workflows.active_grids(system))
        out = {}
        for role, scope in scopes.items():
            name = f"ui_{role}"
            ensure_account(system, name, role=role, scope=scope, password=PASSWORD, display_name=f"测试{role}")
            out[role] = Account(name, role, scope, PASSWORD, workflows.sign_in(system, name, PASSWORD))
    return out


@pytest.fixture
def locked_account(demo_database_url) -> Account:
    """An account of its own for the lock-out test (its failures never lock the others)."""
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=1) as system:
        ensure_account(system, "ui_lockout", role="analyst", scope=DISTRICT, password=PASSWORD,
                       display_name="锁定测试")
    return Account("ui_lockout", "analyst", DISTRICT, PASSWORD,
                   Principal("ui_lockout", "analyst", DISTRICT, "锁定测试"))
