"""Incident intake: read and check incident rows from CSV, GeoJSON and Open311 (pure, no database)."""

from __future__ import annotations

from gis.core.intake.checks import (  # noqa: F401
    FAR_POINT_M,
    FUTURE_TOLERANCE_H,
    INCIDENT_COLUMNS,
    MAX_FIELD_BYTES,
    MAX_KEY_CHARS,
    OPEN311_RULES_PATH,
    OPTIONAL_FIELDS,
    REJECT_COLUMNS,
    REQUIRED_FIELDS,
    Chunk,
    ImplausibleRows,
    far_from_grids,
    placement_columns,
)
from gis.core.intake.encoding import (  # noqa: F401
    ENCODINGS,
    detect_encoding,
)
from gis.core.intake.open311 import (  # noqa: F401
    load_open311_codes,
)
from gis.core.intake.reader import (  # noqa: F401
    IncidentReader,
    check_records,
    read_incidents,
)

__all__ = [
    'IncidentReader', 'read_incidents', 'check_records', 'REQUIRED_FIELDS', 'OPTIONAL_FIELDS',
    'INCIDENT_COLUMNS', 'REJECT_COLUMNS', 'OPEN311_RULES_PATH', 'Chunk', 'ENCODINGS', 'detect_encoding',
    'load_open311_codes', 'MAX_KEY_CHARS', 'MAX_FIELD_BYTES', 'FAR_POINT_M', 'FUTURE_TOLERANCE_H',
    'ImplausibleRows', 'far_from_grids', 'placement_columns',
]
