"""Planning: the open cases a newly active version moves, and the what-if's scratch table."""

from __future__ import annotations

import pandas as pd

from gis.store import db
from gis.store.frames import _copy_frame

OPEN_POINT_COLUMNS = ["id", "source", "external_id", "lon", "lat", "micro_code", "exclusive_code", "tier", "category", "status", "assignee"]
CASE_POINT_COLUMNS = ["id", "lon", "lat", "micro_code", "exclusive_code", "tier", "category", "open", "assignee",
                      "reported_at"]
MOVE_COLUMNS = ["id", "micro_code", "exclusive_code", "suggested_code", "suggested_distance_m", "assignee", "note"]
RECOUNT_COLUMNS = ["id", "before_code", "after_code", "open", "before_assignee", "after_assignee"]


def fetch_open_case_points(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_open_case_points"), columns=OPEN_POINT_COLUMNS)


def save_moves(conn, moves: pd.DataFrame, *, version_id: int, actor: str) -> int:
    """Apply staged moves of open cases (new grids and assignee, one event each) and make
    every open case belong to ``version_id``; returns the number of events written."""
    moved = 0
    if len(moves):
        db.execute(conn, "save_moves_table")
        _copy_frame(conn, "moved_case", moves, MOVE_COLUMNS)
        moved = db.execute(conn, "save_moves", {"version_id": version_id, "actor": actor})
    db.execute(conn, "save_open_cases_version", {"version_id": version_id})
    return moved


def fetch_case_points_in(conn, *, since, until, bounds: tuple[float, float, float, float]) -> pd.DataFrame:
    minx, miny, maxx, maxy = bounds
    rows = db.fetch_all(conn, "fetch_case_points_in", {"since": since, "until": until, "minx": minx,
                                                       "miny": miny, "maxx": maxx, "maxy": maxy})
    return pd.DataFrame(rows, columns=CASE_POINT_COLUMNS)


def save_recount(conn, recount: pd.DataFrame) -> int:
    """Stage a re-count (each case's grid before and after) in a temporary table of the
    caller's transaction; the live tables are not written."""
    db.execute(conn, "save_recount_table")
    return _copy_frame(conn, "recount", recount, RECOUNT_COLUMNS)


def fetch_recount_by_grid(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_recount_by_grid"),
                        columns=["code", "cases_before", "cases_after", "open_before", "open_after",
                                 "open_moving_in", "open_moving_out"])


def fetch_recount_moves(conn) -> pd.DataFrame:
    return pd.DataFrame(db.fetch_all(conn, "fetch_recount_moves"),
                        columns=["id", "source", "external_id", "before_code", "after_code", "before_assignee",
                                 "after_assignee"])
