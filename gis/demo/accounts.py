"""One demo account per role, scoped where a visitor sees something at once."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gis.core import access, roster

DEMO_STREET = "410102009"  # 航海西路街道: the street with the richest micro-grids


def demo_accounts(grids: gpd.GeoDataFrame, staff: pd.DataFrame) -> list[dict[str, str]]:
    """name, role, scope and display_name of each demo account (no passwords: the job makes them).

    The leader heads 航海西路街道; the community account and the grid worker serve
    that street's first community and its first tertiary grid, the grid worker under
    the name the roster gives its 专职网格员 (so ``incident.assignee`` matches); the
    other roles see the district.
    """
    district = grids.loc[grids["level"] == "district", "code"].min()
    streets = grids.loc[grids["level"] == "street", "code"]
    street = DEMO_STREET if (streets == DEMO_STREET).any() else streets.min()
    community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == street), "code"].min()
    tertiary = grids.loc[(grids["level"] == "grid") & (grids["parent_code"] == community), "code"].min()
    workers = staff[(staff["grid_code"] == tertiary) & (staff["role"] == roster.ROLE_FULL_TIME_WORKER)]
    worker = workers["name"].iloc[0] if len(workers) else "网格员"
    scopes = {"leader": street, "community": community, "gridworker": tertiary}
    names = {"gridworker": worker}
    return [{"name": f"demo_{role}", "role": role, "scope": scopes.get(role, district),
             "display_name": names.get(role, f"演示{access.ROLE_NAMES_ZH[role]}")}
            for role in access.USER_ROLES]
