"""One demo account per role, scoped where a visitor sees something at once."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from gis.core import access, roster

DEMO_STREET = "410102009"  # 航海西路街道: the street with the richest micro-grids


def demo_accounts(grids: gpd.GeoDataFrame, staff: pd.DataFrame, *,
                  open_cases: pd.Series | None = None) -> list[dict[str, str]]:
    """name, role, scope and display_name of each demo account (no passwords: the job makes them).

    The leader heads 航海西路街道. The grid worker is that street's 专职网格员 with the most
    open cases (``open_cases``: counts by assignee), else the one of its first tertiary grid,
    under the name the roster gives (so ``incident.assignee`` matches); the community account
    serves that worker's community. The other roles see the district.
    """
    district = grids.loc[grids["level"] == "district", "code"].min()
    streets = grids.loc[grids["level"] == "street", "code"]
    street = DEMO_STREET if (streets == DEMO_STREET).any() else streets.min()
    communities = set(grids.loc[(grids["level"] == "community") & (grids["parent_code"] == street), "code"])
    tertiaries = grids[(grids["level"] == "grid") & grids["parent_code"].isin(communities)]
    workers = staff[staff["grid_code"].isin(set(tertiaries["code"]))
                    & (staff["role"] == roster.ROLE_FULL_TIME_WORKER)].sort_values(["grid_code", "name"])
    if open_cases is not None and len(workers):
        load = workers["name"].map(open_cases).fillna(0)
        workers = workers.assign(load=load).sort_values(["load", "grid_code"], ascending=[False, True])
    if len(workers):
        worker, tertiary = workers["name"].iloc[0], workers["grid_code"].iloc[0]
    else:
        tertiary, worker = tertiaries["code"].min(), "网格员"
    community = tertiaries.set_index("code")["parent_code"].get(tertiary, min(communities))
    scopes = {"leader": street, "community": community, "gridworker": tertiary}
    names = {"gridworker": worker}
    return [{"name": f"demo_{role}", "role": role, "scope": scopes.get(role, district),
             "display_name": names.get(role, f"演示{access.ROLE_NAMES_ZH[role]}")}
            for role in access.USER_ROLES]
