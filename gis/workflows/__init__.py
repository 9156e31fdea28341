"""The jobs that the CLI, the app's pages and notebooks share. Each takes the services (pool and
per-version caches) first and returns plain values or frames; none prints or draws."""

from __future__ import annotations

from gis.workflows.access import (  # noqa: F401
    WRONG_CREDENTIALS_ZH,
    add_user,
    audit_trail,
    disable_user,
    list_users,
    masked_reporter,
    record_export,
    reveal_reporter,
    set_password,
    sign_in,
    sign_in_verified,
    whoami,
)
from gis.workflows.addresses import (  # noqa: F401
    AddressImport,
    export_addresses,
    fetch_addresses,
    import_addresses,
    place_by_address,
    save_demo_addresses,
)
from gis.workflows.admin import (  # noqa: F401
    backup_database,
    connect,
    init_database,
    restore_database,
    server_status,
    server_url,
    start_server,
    stop_server,
)
from gis.workflows.bulletin import (  # noqa: F401
    Bulletin,
    weekly_bulletin,
)
from gis.workflows.context import (  # noqa: F401
    VERSIONS_CACHED,
    GridVersion,
    Services,
    active_version_id,
)
from gis.workflows.dashboards import (  # noqa: F401
    HEAT_LAYERS,
    Situation,
    cases,
    category_counts,
    daily_counts,
    heat_cells,
    heat_layers,
    kpis,
    micro_stats,
    situation,
    unit_stats,
)
from gis.workflows.demo import (  # noqa: F401
    load_demo,
    load_demo_incidents,
)
from gis.workflows.grids import (  # noqa: F401
    GridImport,
    active_grids,
    exclusive_partners,
    export_grids,
    fetch_grids,
    fetch_staff,
    grid_tree,
    grid_version,
    import_grids,
    import_staff,
    locate,
    reassign_incidents,
    save_grid_layer,
    validate_grid_file,
    validate_grid_layer,
)
from gis.workflows.incidents import (  # noqa: F401
    DispatchContext,
    IncidentImport,
    assignees,
    dispatch_context,
    escalate_overdue,
    export_incidents,
    import_incidents,
    incident_history,
    prepare_incidents,
    receive_incident,
    set_incident_status,
    store_incidents,
)

from gis.workflows.operations import (  # noqa: F401
    ACTIONS_ZH,
    VISIT_CHANNELS_ZH,
    VISIT_RESULTS_ZH,
    CaseDetail,
    Photo,
    accept_incident,
    actionable_cases,
    allowed_actions,
    assign_from_queue,
    case_detail,
    close_incident,
    decide_extension,
    dispatch_incident,
    feedback_incident,
    overdue_reports,
    queue_count,
    record_visit,
    report_department,
    request_extension,
    return_incident,
    rework_incident,
    satisfaction,
    satisfaction_rate,
    supervise_incident,
    unassigned_queue,
    verify_incident,
)

__all__ = [
    'WRONG_CREDENTIALS_ZH', 'add_user', 'audit_trail', 'disable_user', 'list_users', 'masked_reporter',
    'record_export', 'reveal_reporter', 'set_password', 'sign_in', 'sign_in_verified', 'whoami',
    'AddressImport', 'export_addresses', 'fetch_addresses', 'import_addresses', 'place_by_address',
    'save_demo_addresses',
    'VERSIONS_CACHED', 'GridVersion', 'Services', 'active_version_id', 'connect', 'init_database',
    'start_server', 'stop_server', 'server_url', 'server_status', 'backup_database', 'restore_database',
    'GridImport', 'validate_grid_layer',
    'save_grid_layer', 'import_grids', 'validate_grid_file', 'fetch_grids', 'exclusive_partners', 'export_grids', 'import_staff',
    'fetch_staff', 'locate', 'reassign_incidents', 'grid_version', 'grid_tree', 'active_grids',
    'IncidentImport', 'DispatchContext', 'dispatch_context', 'prepare_incidents', 'assignees',
    'store_incidents', 'import_incidents', 'receive_incident', 'set_incident_status', 'escalate_overdue',
    'incident_history', 'export_incidents', 'micro_stats', 'kpis', 'unit_stats', 'HEAT_LAYERS', 'heat_layers',
    'heat_cells', 'daily_counts', 'category_counts', 'cases', 'Situation', 'situation', 'Bulletin',
    'weekly_bulletin', 'load_demo', 'load_demo_incidents',
    'ACTIONS_ZH', 'VISIT_CHANNELS_ZH', 'VISIT_RESULTS_ZH', 'CaseDetail', 'Photo', 'accept_incident',
    'actionable_cases', 'allowed_actions', 'assign_from_queue', 'case_detail', 'close_incident',
    'decide_extension', 'dispatch_incident', 'feedback_incident', 'overdue_reports', 'queue_count',
    'record_visit', 'report_department', 'request_extension', 'return_incident', 'rework_incident',
    'satisfaction', 'satisfaction_rate', 'supervise_incident', 'unassigned_queue', 'verify_incident',
]
