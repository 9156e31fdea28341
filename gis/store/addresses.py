"""The standard address register (标准地址, 楼栋) and the placement of address-only cases."""

from __future__ import annotations

import json

import pandas as pd

from gis.core.address import ADDRESS_COLUMNS
from gis.store import db

_SAVED = ["address", "community", "estate", "building", "households", "micro_code", "lon", "lat"]


def save_addresses(conn, buildings: pd.DataFrame, *, replace: bool = False) -> int:
    """Upsert buildings (:data:`ADDRESS_COLUMNS`, lon/lat WGS-84) on their address text;
    ``replace`` removes every building (visible to the caller) first."""
    if replace:
        db.execute(conn, "save_addresses_removed")
    rows = [tuple(None if pd.isna(v) else (int(v) if c == "households" else v) for c, v in zip(_SAVED, r))
            for r in buildings[_SAVED].itertuples(index=False, name=None)]
    if rows:
        db.execute_values(conn, "save_addresses", rows, page_size=5000)
    return len(rows)


def fetch_addresses(conn) -> pd.DataFrame:
    """The register the caller may see: ``id`` and :data:`ADDRESS_COLUMNS`."""
    return pd.DataFrame(db.fetch_all(conn, "fetch_addresses"), columns=["id", *ADDRESS_COLUMNS])


def save_incident_placements(conn, placements: pd.DataFrame, *, batch_id: int) -> int:
    """Record how the cases of one import batch were placed: columns ``source``,
    ``external_id``, ``placed_by`` (None: not placed), ``address_id`` and ``candidates``
    (a list of dicts, or None)."""
    if not len(placements):
        return 0
    candidates = [None if not c else json.dumps(c, ensure_ascii=False) for c in placements["candidates"]]
    ids = [None if pd.isna(v) else int(v) for v in placements["address_id"]]
    row = db.fetch_one(conn, "save_incident_placements", {
        "batch_id": batch_id, "sources": list(placements["source"]), "external_ids": list(placements["external_id"]),
        "placed": [None if pd.isna(v) else v for v in placements["placed_by"]], "address_ids": ids,
        "candidates": candidates})
    return int(row["n"])
