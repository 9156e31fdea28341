"""精准派单: who takes a case at its tier, from the grid staff roster (pure rules)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gis.core.roster import (
    ROLE_COMMUNITY_HEAD,
    ROLE_EXCLUSIVE_HEAD,
    ROLE_FULL_TIME_WORKER,
    ROLE_MICRO_HEAD,
)
from gis.core.rules.config import TIERS
from gis.errors import InputError


def assignee_for(*, tier: str, micro_code: str | None, exclusive_code: str | None,
                 community_code: str | None, street_code: str | None,
                 staff: pd.DataFrame | None) -> str | None:
    """Who takes a case at a tier, from the grid staff list.

    - ``general``: the 专属网格负责人 of ``exclusive_code`` when the point is in
      an exclusive grid that has one; else the 专职网格员 of ``micro_code``,
      else its 微网格长.
    - ``complex``: the 网格长 of ``community_code``.
    - ``hard``: the street's coordination desk, ``街道吹哨报到平台(<street_code>)``,
      which names the lead and co-handling departments (see
      :attr:`Category.lead_department`).

    When a grid has several people in the role, the first by name is chosen,
    so the answer does not depend on row order.

    Parameters
    ----------
    tier
        ``general``, ``complex`` or ``hard``.
    micro_code, exclusive_code, community_code, street_code
        Grid codes of the case's point; None or empty when there is none.
    staff
        Frame with columns ``grid_code``, ``role``, ``name`` (one row per
        person and grid); None means no staff list.

    Returns
    -------
    str or None
        A person's name or the desk; None when nobody fits (the case waits
        for manual assignment).

    Raises
    ------
    InputError
        Unknown tier, or ``staff`` lacks a column.
    """
    return _assignee(tier, micro_code, exclusive_code, community_code, street_code, _staff_lookup(staff))


def assignees_many(cases: pd.DataFrame, *, staff: pd.DataFrame | None) -> pd.Series:
    """:func:`assignee_for` for many cases at once (columns ``tier``, ``micro_code``,
    ``exclusive_code``, ``community_code``, ``street_code``); same index."""
    lookup = _staff_lookup(staff)
    keys = ["tier", "micro_code", "exclusive_code", "community_code", "street_code"]
    if not len(cases):
        return pd.Series([], index=cases.index, dtype=object)
    # a district has a few thousand grids: decide once per distinct combination (hashed per
    # column by groupby, several times faster than factorizing row tuples)
    group = cases.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(cases))).groupby(group, sort=True).first().to_numpy()
    distinct = cases[keys].iloc[first].astype(object)
    answers = np.array([_assignee(*(None if v is None or pd.isna(v) else v for v in row), lookup)
                        for row in distinct.itertuples(index=False, name=None)], dtype=object)
    return pd.Series(answers[group], index=cases.index, dtype=object)


def _staff_lookup(staff: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(grid_code, role) → the first name in that role (by name, so row order does not matter)."""
    if staff is None or len(staff) == 0:
        return {}
    missing = [c for c in ("grid_code", "role", "name") if c not in staff.columns]
    if missing:
        raise InputError("staff list lacks column " + ", ".join(missing),
                         fix="give a frame with columns grid_code, role, name")
    # plain Python: rosters are small per call (locate: a few rows) and pandas' overhead dominated
    people = sorted((name.strip(), str(code).strip(), role)
                    for code, role, name in zip(staff["grid_code"], staff["role"], staff["name"])
                    if isinstance(name, str) and name.strip())
    lookup: dict[tuple[str, str], str] = {}
    for name, code, role in people:
        lookup.setdefault((code, role), name)
    return lookup


def _assignee(tier: str, micro_code: str | None, exclusive_code: str | None, community_code: str | None,
              street_code: str | None, lookup: dict[tuple[str, str], str]) -> str | None:
    if tier not in TIERS:
        raise InputError(f"tier {tier!r} is not known", fix="use one of " + ", ".join(TIERS))
    if tier == "hard":
        street = (street_code or "").strip()
        return f"街道吹哨报到平台({street})" if street else "街道吹哨报到平台"
    if tier == "complex":
        searches = [(community_code, ROLE_COMMUNITY_HEAD)]
    else:
        searches = [(exclusive_code, ROLE_EXCLUSIVE_HEAD),
                    (micro_code, ROLE_FULL_TIME_WORKER),
                    (micro_code, ROLE_MICRO_HEAD)]
    for code, role in searches:
        if code is None or not str(code).strip():
            continue
        name = lookup.get((str(code).strip(), role))
        if name:
            return name
    return None
