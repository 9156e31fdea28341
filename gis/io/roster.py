"""The grid staff roster: reading it and masking phones (pure).

Roles follow the street offices' grid system: 网格长 (community grid head),
专职网格员 (full-time grid worker, tertiary grid), 微网格长 (micro-grid head),
专属网格负责人 (manager of an exclusive grid).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gis.core.roster import _PHONE, ROLES, STAFF_COLUMNS
from gis.errors import InputError


def staff_from_file(path: str | Path, *, known_codes: set[str] | None = None) -> pd.DataFrame:
    """Read a roster CSV (``grid_code, role, name, phone``), refusing it whole on a bad row.

    Raises
    ------
    InputError
        Naming the line and field, e.g. ``line 4, field 'role': '组长' is not a role``.
    """
    from gis.core.intake.encoding import detect_encoding
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=detect_encoding(path))
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in STAFF_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(missing)}",
                         fix=f"the header must be {','.join(STAFF_COLUMNS)}")
    frame = frame[list(STAFF_COLUMNS)].apply(lambda s: s.str.strip())
    for i, row in enumerate(frame.itertuples(index=False), start=2):
        if not row.grid_code:
            raise InputError("grid_code is empty", row=i, field="grid_code", fix="give the grid's code")
        if known_codes is not None and row.grid_code not in known_codes:
            raise InputError(f"grid '{row.grid_code}' is not in the active grids", row=i, field="grid_code",
                             fix="import the grids first or correct the code")
        if row.role not in ROLES:
            raise InputError(f"'{row.role}' is not a role", row=i, field="role", fix=f"use one of {', '.join(ROLES)}")
        if not row.name:
            raise InputError("name is empty", row=i, field="name", fix="give the person's name")
        phone = row.phone.replace(" ", "")
        if phone and not _PHONE.match(phone):
            raise InputError(f"phone '{row.phone}' is not a mobile (11 digits) or landline number", row=i,
                             field="phone", fix="write e.g. 13812345678 or 0371-67891234")
    frame["phone"] = frame["phone"].str.replace(" ", "")
    dupes = frame.duplicated(["grid_code", "role", "name"], keep=False)
    if dupes.any():
        first = frame[dupes].iloc[0]
        raise InputError(f"{first['name']} appears twice as {first['role']} of grid {first['grid_code']}",
                         fix="remove the duplicate row")
    return frame
