"""The only home of ``st.cache_*`` and of the connection pool the pages share.

Streamlit serves many users from one process: one ``ThreadedConnectionPool``
(a cached resource), bounded caches for data (``ttl``, ``max_entries``).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gis import workflows
from gis.db import Database


@st.cache_resource(show_spinner="连接数据库…")
def database() -> Database:
    """The shared pool; the schema is brought up to date once per process."""
    pool = workflows.connect(maxconn=8)
    workflows.init_database(pool)
    return pool


@st.cache_data(ttl=30, max_entries=4, show_spinner=False)
def server_status() -> dict[str, Any]:
    database()
    return workflows.server_status()
