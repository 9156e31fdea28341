"""Address jobs: the standard address register (标准地址, 楼栋) in and out, and placing
address-only tickets by it (see :mod:`gis.core.address`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import store
from gis.core import access
from gis.core.address import AddressRegister
from gis.demo.addresses import demo_addresses
from gis.io.addresses import (
    ADDRESS_REJECT_COLUMNS,
    addresses_from_file,
    addresses_to_csv,
)
from gis.io.paths import writable_path
from gis.workflows.context import Services

#: ``incident.placed_by`` values (NULL: not placed, an address the register could not place).
PLACED_BY_COORDINATES = "coordinates"
PLACED_BY_ADDRESS = "address"
PLACED_BY_MANUAL = "manual"


@dataclass
class AddressImport:
    """What a register import did."""

    stored: int = 0
    filled: int = 0                       # micro_code filled by assignment
    outside: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["line", "address", "lon", "lat"]))
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(ADDRESS_REJECT_COLUMNS)))

    def summary(self) -> str:
        return (f"stored {self.stored} building(s) (micro_code filled by assignment for {self.filled}), "
                f"outside every micro-grid {len(self.outside)}, rejected {len(self.rejects)}")


def import_addresses(services: Services, path: str | Path) -> AddressImport:
    """Load a register CSV (``address, community, estate, building, lon, lat, households,
    micro_code``, WGS-84), upserting on ``address``.

    A missing ``micro_code`` is filled by assignment to the active grid version; buildings
    outside every micro-grid are stored without one and reported; bad rows are refused alone
    (line, field, fix) and the good ones stored.
    """
    if not _can_plan(services):
        services.require(access.MANAGE_STAFF, action_zh="导入标准地址")
    buildings, rejects = addresses_from_file(path)
    result = AddressImport(rejects=rejects)
    with services.transaction() as conn:
        if store.fetch_active_version(conn) is not None and len(buildings):
            index = services.version(conn).index
            missing = buildings["micro_code"].isna().to_numpy()
            if missing.any() and len(index):
                hit = index.assign(buildings.loc[missing, "lon"].to_numpy(), buildings.loc[missing, "lat"].to_numpy(),
                                   suggest=False)
                codes = pd.Series(hit.micro_code, index=buildings.index[missing], dtype=object)
                buildings.loc[missing, "micro_code"] = codes
                result.filled = int(codes.notna().sum())
                out = buildings.loc[missing].loc[codes.isna()]
                result.outside = out[["line", "address", "lon", "lat"]].reset_index(drop=True)
        result.stored = store.save_addresses(conn, buildings)
    return result


def _can_plan(services: Services) -> bool:
    principal = services.principal
    return principal is not None and principal.can(access.PLAN)


def export_addresses(services: Services, path: str | Path) -> int:
    """Write the register the principal may see as CSV (:data:`gis.core.address.ADDRESS_COLUMNS`, WGS-84)."""
    path = writable_path(path, field="PATH")
    with services.connection() as conn:
        buildings = store.fetch_addresses(conn)
    return addresses_to_csv(buildings, path)


def fetch_addresses(services: Services) -> pd.DataFrame:
    """The register the principal may see: ``id`` and :data:`gis.core.address.ADDRESS_COLUMNS`."""
    with services.connection() as conn:
        return store.fetch_addresses(conn)


def address_register(conn) -> AddressRegister:
    """The stored register as a matcher (read through the job's connection)."""
    return AddressRegister(store.fetch_addresses(conn))


def save_demo_addresses(services: Services, grids: gpd.GeoDataFrame, *, seed: int = 42) -> int:
    """Synthesise and store the demo register (see :func:`gis.demo.addresses.demo_addresses`),
    replacing any register stored before."""
    buildings = demo_addresses(grids, seed=seed)
    with services.transaction() as conn:
        return store.save_addresses(conn, buildings, replace=True)


def place_by_address(incidents: pd.DataFrame, register: AddressRegister | None) -> pd.DataFrame:
    """Place the address-only rows (lon/lat NaN, an address) at their building (pure).

    Returns a copy with ``lon``/``lat`` of a matched building, ``placed_by``
    (``coordinates`` for rows that came with a point, ``address`` for matched ones, None for
    the rest), ``address_id`` and ``candidates`` (the top candidates of an unplaced row) and
    ``register_micro_code`` (the matched building's micro-grid).
    """
    out = incidents.copy()
    has_point = (np.isfinite(out["lon"].to_numpy(dtype=float)) & np.isfinite(out["lat"].to_numpy(dtype=float)))
    out["placed_by"] = pd.Series(np.where(has_point, PLACED_BY_COORDINATES, None), index=out.index, dtype=object)
    out["address_id"] = pd.Series(None, index=out.index, dtype=object)
    out["candidates"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    out["register_micro_code"] = pd.Series(None, index=out.index, dtype=object)
    todo = ~has_point
    if not todo.any() or register is None or not len(register):
        return out
    rows = out.index[todo]
    hits = register.match_many(out.loc[rows, "address"].tolist())
    hits.index = rows
    placed = hits["address_id"].notna()
    out.loc[rows, "candidates"] = pd.Series([c or None for c in hits["candidates"]], index=rows, dtype=object)
    if placed.any():
        chosen = register.buildings.set_index("id").loc[hits.loc[placed, "address_id"]]
        where = rows[placed.to_numpy()]
        out.loc[where, "lon"] = chosen["lon"].to_numpy(dtype=float)
        out.loc[where, "lat"] = chosen["lat"].to_numpy(dtype=float)
        out.loc[where, "placed_by"] = PLACED_BY_ADDRESS
        out.loc[where, "address_id"] = hits.loc[placed, "address_id"].to_numpy()
        out.loc[where, "register_micro_code"] = chosen["micro_code"].to_numpy()
    return out
