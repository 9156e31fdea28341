"""系统状态: where the data live and what is loaded."""

import streamlit as st

from gis.errors import DatabaseUnavailable, GisError
from ui import auth, cached

auth.require_user(right=None)  # every signed-in role
st.title("系统状态")
try:
    status = cached.server_status()
except DatabaseUnavailable:
    raise  # app.py says 数据库重连中… and tries again by itself
except GisError as exc:
    st.error(f"数据库不可用：{exc}")
    st.stop()

mode = "内置数据库 (embedded PostGIS)" if status["mode"] == "embedded" else "外部数据库 (DATABASE_URL)"
cols = st.columns(3)
cols[0].metric("PostgreSQL", status["postgresql"].split()[0])
cols[1].metric("PostGIS", status["postgis"] or "未安装")
cols[2].metric("数据库结构版本", status["schema_version"] or "—")
st.caption(f"{mode} · {status['host']}:{status['port']} · 数据库 {status['database']}")
