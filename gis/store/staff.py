"""The staff roster."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from gis.store import db


def save_staff(conn, staff: pd.DataFrame) -> int:
    """Replace the roster of every grid named in ``staff`` (grid_code, role, name, phone)."""
    db.execute(conn, "save_staff_replaced", {"grid_codes": sorted(set(staff["grid_code"]))})
    rows = [(r.grid_code, r.role, r.name, r.phone or None) for r in staff.itertuples(index=False)]
    db.execute_values(conn, "save_staff", rows)
    return len(rows)


def fetch_staff_records(conn, *, grid_codes: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The roster on duty as records (phones whole: mask before showing)."""
    return db.fetch_all(conn, "fetch_staff", {"grid_codes": list(grid_codes) if grid_codes is not None else None})


def fetch_staff(conn, *, grid_codes: Sequence[str] | None = None) -> pd.DataFrame:
    """The roster on duty as a frame (phones whole: mask before showing)."""
    return pd.DataFrame(fetch_staff_records(conn, grid_codes=grid_codes), columns=["grid_code", "role", "name", "phone"])
