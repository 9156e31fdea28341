"""Loading the demo district 中原区 (synthetic boundaries, real names and codes)."""

from __future__ import annotations

import secrets
from typing import Callable

import pandas as pd

from gis import store
from gis.core import access, metrics
from gis.core.hierarchy import LEVEL_NAMES_ZH
from gis.core.rules.config import load_rules
from gis.demo import district
from gis.demo.accounts import DEMO_STREET, demo_accounts
from gis.demo.incidents import demo_incidents
from gis.errors import InputError
from gis.workflows.access import add_user, list_users
from gis.workflows.addresses import save_demo_addresses
from gis.workflows.context import Services
from gis.workflows.grids import save_grid_layer
from gis.workflows.incidents import dispatch_context, prepare_incidents
from gis.workflows.operations import save_demo_visits

DEMO_NOTE = "demo 中原区"  # how a demo grid version's note starts


def load_demo(services: Services, *, incidents: int = 100_000, seed: int = 42, if_empty: bool = False,
              progress: Callable[[str, int, int], None] | None = None) -> str:
    """Load the demo district 中原区 (synthetic boundaries, real names and codes), reproducibly.

    Returns a summary, with the passwords of the demo accounts it created (shown
    this once). With ``if_empty`` nothing is reloaded when grids are stored
    already; demo grids without their accounts (a database older than sign-in)
    still get them.
    """
    with services.connection() as conn:
        active = store.fetch_active_version(conn) if if_empty else None
    if active is not None:
        summary = "grids already stored; demo not reloaded (run python -m gis demo to reload)"
        if not active["note"].startswith(DEMO_NOTE):
            return summary
        with services.connection() as conn:
            grids, staff = services.version(conn, active["id"]).grids, store.fetch_staff(conn)
        return summary + _accounts_note(save_demo_accounts(
            services, demo_accounts(grids, staff, open_cases=_open_by_assignee(services))))
    grids = district.demo_grids(seed=seed, progress=progress)
    # the demo replaces whatever district was stored before (a reload, another seed)
    result = save_grid_layer(services, grids, note=f"{DEMO_NOTE} (seed {seed})", replace_all=True)
    staff = district.demo_staff(grids, seed=seed)
    with services.transaction() as conn:
        store.save_staff(conn, staff)
    save_demo_addresses(services, grids, seed=seed)
    loaded = load_demo_incidents(services, n=incidents, seed=seed, progress=progress) if incidents else 0
    counts = ", ".join(f"{LEVEL_NAMES_ZH[level]} {n}" for level, n in result.counts.items())
    summary = f"demo 中原区 loaded (grid version {result.version_id}): {counts}; staff {len(staff)}; incidents {loaded}"
    return summary + _accounts_note(save_demo_accounts(services, demo_accounts(grids, staff,
                                                                               open_cases=_open_by_assignee(services))))


def _open_by_assignee(services: Services) -> pd.Series:
    """Open cases of the demo street by assignee (the demo grid worker is the busiest)."""
    from gis.workflows.dashboards import cases
    found = cases(services, metrics.last_days(365, unit=DEMO_STREET), open_only=True, limit=1_000_000)
    return found["assignee"].value_counts()


def _accounts_note(created: list[dict[str, str]]) -> str:
    """The lines that show the new demo accounts' passwords (this once), or say they exist."""
    if not created:
        return ("\ndemo accounts exist already; their passwords are unchanged "
                "(python -m gis users set-password NAME sets a new one)")
    lines = [f"  {a['name']:<16} {a['password']:<16} "
             f"{access.ROLE_NAMES_ZH[a['role']]}（{a['role']}），范围 {a['scope']}" for a in created]
    return ("\ndemo accounts (the passwords are shown this once; "
            "python -m gis users set-password NAME sets a new one):\n" + "\n".join(lines))


def save_demo_accounts(services: Services, accounts: list[dict[str, str]]) -> list[dict[str, str]]:
    """Create the demo accounts that do not exist yet, each with a random password;
    returns the created ones with their passwords (shown once, stored only as hashes)."""
    existing = set(list_users(services)["name"])
    created = []
    for account in accounts:
        if account["name"] in existing:
            continue
        password = secrets.token_urlsafe(9)  # 12 characters, 72 random bits
        add_user(services, account["name"], role=account["role"], scope=account["scope"], password=password,
                 display_name=account["display_name"])
        created.append({**account, "password": password})
    return created


def load_demo_incidents(services: Services, *, n: int, seed: int = 42,
                        progress: Callable[[str, int, int], None] | None = None) -> int:
    """Generate ``n`` demo incidents with their lifecycles and store them in one transaction,
    replacing earlier demo incidents (incidents from real imports are kept)."""
    rules = load_rules()
    with services.connection() as conn:
        context = dispatch_context(services, conn)
    if context.version is None:
        raise InputError("no grids are stored yet", fix="load the demo grids first (python -m gis demo)")
    steps = 4
    if progress:
        progress("incidents", 0, steps)
    incidents, events = demo_incidents(context.version.level("micro"), n=n, seed=seed,
                                       exclusive=context.version.level("exclusive"), rules=rules)
    if progress:
        progress("incidents", 1, steps)
    incidents = prepare_incidents(incidents.assign(input_crs="wgs84"), context=context, rules=rules)
    if progress:
        progress("incidents", 2, steps)
    with services.transaction() as conn:
        store.save_demo_incidents_removed(conn)
        batch_id = store.save_import_batch(conn, kind="demo", source_path=f"demo seed {seed}")
        if progress:
            progress("incidents", 3, steps)
        stored = store.save_incidents_direct(conn, incidents, events, version_id=context.version_id, batch_id=batch_id)
        save_demo_visits(conn, batch_id=batch_id, seed=seed)  # 回访 of the closed cases (满意率 ≈ 95 %)
        store.save_import_batch_done(conn, batch_id=batch_id, accepted=stored, inserted=stored, updated=0,
                                     unassigned=int(incidents["micro_code"].isna().sum()), rejected=0)
    if progress:
        progress("incidents", steps, steps)
    return stored
