"""Loading the demo district 中原区 (synthetic boundaries, real names and codes)."""

from __future__ import annotations

from typing import Callable

from gis import store
from gis.core.hierarchy import LEVEL_NAMES_ZH
from gis.core.rules.config import load_rules
from gis.demo import district
from gis.demo.incidents import demo_incidents
from gis.errors import InputError
from gis.workflows.context import Services
from gis.workflows.grids import save_grid_layer
from gis.workflows.incidents import dispatch_context, prepare_incidents


def load_demo(services: Services, *, incidents: int = 100_000, seed: int = 42, if_empty: bool = False,
              progress: Callable[[str, int, int], None] | None = None) -> str:
    """Load the demo district 中原区 (synthetic boundaries, real names and codes), reproducibly.

    Returns a one-line summary. With ``if_empty`` nothing happens when grids are stored already.
    """
    with services.connection() as conn:
        if if_empty and store.fetch_active_version(conn) is not None:
            return "grids already stored; demo not reloaded (run python -m gis demo to reload)"
    grids = district.demo_grids(seed=seed, progress=progress)
    result = save_grid_layer(services, grids, note=f"demo 中原区 (seed {seed})")
    staff = district.demo_staff(grids, seed=seed)
    with services.transaction() as conn:
        store.save_staff(conn, staff)
    loaded = load_demo_incidents(services, n=incidents, seed=seed, progress=progress) if incidents else 0
    counts = ", ".join(f"{LEVEL_NAMES_ZH[level]} {n}" for level, n in result.counts.items())
    return f"demo 中原区 loaded (grid version {result.version_id}): {counts}; staff {len(staff)}; incidents {loaded}"


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
        store.save_import_batch_done(conn, batch_id=batch_id, accepted=stored, inserted=stored, updated=0,
                                     unassigned=int(incidents["micro_code"].isna().sum()), rejected=0)
    if progress:
        progress("incidents", steps, steps)
    return stored
