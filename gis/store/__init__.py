"""The store: the only users of psycopg2. Named queries (SQL in ``store/sql/``) take a connection
that the caller borrowed once per job; ``db`` holds the pool, ``migrate`` the schema, ``embedded`` the server
and ``backup`` the pg_dump / pg_restore round trip.

This package re-exports the named queries of its table families (grids, staff, incidents, dashboards)."""

from __future__ import annotations

from gis.store.addresses import (  # noqa: F401
    fetch_addresses,
    save_addresses,
    save_incident_placements,
)
from gis.store.dashboards import (  # noqa: F401
    fetch_cases,
    fetch_category_counts,
    fetch_daily_counts,
    fetch_heat_layers,
    fetch_micro_stats,
    fetch_period_stats,
)
from gis.store.grids import (  # noqa: F401
    GRID_COLUMNS,
    VERSION_COLUMNS,
    fetch_active_version,
    fetch_earlier_grids,
    fetch_grid_counts,
    fetch_grids,
    fetch_moved_codes,
    fetch_orphans,
    fetch_sees_all,
    fetch_staff_of_removed,
    fetch_version,
    fetch_versions,
    save_grid_version,
    save_grids,
    save_grids_carried_over,
    save_grids_copied,
    save_grids_removed,
    save_version_active,
    save_version_removed,
)
from gis.store.incidents import (  # noqa: F401
    BULK_MERGE_ROWS,
    CASES_EXPORT_COLUMNS,
    INCIDENT_COLUMNS,
    INCOMING_COLUMNS,
    fetch_cases_export_count,
    fetch_incident,
    fetch_incident_events,
    fetch_incidents_export,
    fetch_overdue,
    iter_cases_export,
    save_demo_incidents_removed,
    save_escalations,
    save_import_batch,
    save_import_batch_done,
    save_import_rejects,
    save_incident_event,
    save_incident_status,
    save_incidents_direct,
    save_incoming,
    save_incoming_merged,
    save_incoming_table,
)
from gis.store.planning import (  # noqa: F401
    fetch_case_points_in,
    fetch_open_case_points,
    fetch_recount_by_grid,
    fetch_recount_moves,
    save_moves,
    save_recount,
)
from gis.store.proposals import (  # noqa: F401
    fetch_addresses_in,
)
from gis.store.staff import (  # noqa: F401
    fetch_staff,
    fetch_staff_records,
    save_staff,
)
from gis.store.worklist import (  # noqa: F401
    fetch_worklist,
)

__all__ = [
    'GRID_COLUMNS', 'fetch_active_version', 'save_grid_version', 'save_grids_carried_over', 'save_grids',
    'fetch_orphans', 'save_version_active', 'fetch_grids', 'fetch_grid_counts', 'save_staff',
    'fetch_staff_records', 'fetch_staff', 'INCOMING_COLUMNS', 'save_import_batch', 'save_import_batch_done',
    'save_import_rejects', 'save_incoming_table', 'save_incoming', 'BULK_MERGE_ROWS', 'save_incoming_merged',
    'INCIDENT_COLUMNS', 'save_demo_incidents_removed', 'save_incidents_direct',
    'fetch_incident', 'fetch_incident_events', 'save_incident_status',
    'save_incident_event', 'fetch_incidents_export', 'fetch_overdue', 'save_escalations', 'fetch_micro_stats',
    'fetch_period_stats', 'fetch_daily_counts', 'fetch_category_counts', 'fetch_heat_layers', 'fetch_cases',
    'fetch_addresses', 'save_addresses', 'save_incident_placements',
    'CASES_EXPORT_COLUMNS', 'fetch_cases_export_count', 'iter_cases_export',
    'fetch_worklist',
    'VERSION_COLUMNS', 'fetch_version', 'fetch_versions', 'save_version_removed', 'save_grids_copied',
    'save_grids_removed', 'fetch_moved_codes', 'fetch_earlier_grids', 'fetch_staff_of_removed', 'fetch_sees_all',
    'fetch_open_case_points', 'save_moves', 'fetch_case_points_in', 'save_recount', 'fetch_recount_by_grid',
    'fetch_recount_moves',
    'fetch_addresses_in',
]
