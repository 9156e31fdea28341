"""Staff roles and the roster columns; phone masking.

Roles (``grid_staff.role``), as the street offices name them, each with the
level of grid it serves: 网格长 heads a community (二级网格), a 专职网格员 serves
a tertiary grid and its micro-grids, a 微网格长 (a volunteer: 楼栋长, 物业,
a resident representative) one micro-grid, and a 专属网格负责人 an exclusive grid.
"""

from __future__ import annotations

import re

import pandas as pd

from gis.errors import InputError

ROLE_COMMUNITY_HEAD = "网格长"
ROLE_FULL_TIME_WORKER = "专职网格员"
ROLE_MICRO_HEAD = "微网格长"
ROLE_EXCLUSIVE_HEAD = "专属网格负责人"

#: Every role, and the grid level each serves.
ROLE_LEVELS = {ROLE_COMMUNITY_HEAD: "community", ROLE_FULL_TIME_WORKER: "grid",
               ROLE_MICRO_HEAD: "micro", ROLE_EXCLUSIVE_HEAD: "exclusive"}
ROLES = tuple(ROLE_LEVELS)
STAFF_COLUMNS = ("grid_code", "role", "name", "phone")
#: Where dispatch looks for the 专职网格员 of a general case, nearest first: one listed for
#: the micro-grid itself, else for its tertiary grid (the usual case), else for its community.
FULL_TIME_WORKER_SEARCH = ("micro", "grid", "community")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")


def mask_phone(phone: str | None) -> str:
    """``13812345678`` → ``138****5678``; landlines keep area code and last four."""
    if not phone:
        return ""
    digits = str(phone)
    if "-" in digits:  # landline: the area code is public, the number is not
        area, number = digits.split("-", 1)
        return f"{area}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    if len(digits) <= 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def roster_lookup(staff: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(grid_code, role) → the person on duty: the first by name when a grid has several
    in one role, so the answer never depends on row order.

    Parameters
    ----------
    staff
        Frame with columns ``grid_code``, ``role``, ``name``; None means no roster.

    Raises
    ------
    InputError
        ``staff`` lacks a column.
    """
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
