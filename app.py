"""网格通 — the Streamlit entry: a router over ui/pages, nothing else."""

import streamlit as st

from gis.errors import DatabaseBusy, DatabaseUnavailable, SchemaOutOfDate

# an emoji page icon becomes a data: URI; a ":material/…:" one is fetched from Google (offline rule)
st.set_page_config(page_title="网格通 · 网格化治理", page_icon="🗺️", layout="wide")

pages = [
    st.Page("ui/pages/situation.py", title="态势地图", icon=":material/map:", url_path="map", default=True),
    st.Page("ui/pages/cases.py", title="工单", icon=":material/assignment:", url_path="cases"),
    st.Page("ui/pages/bulletin.py", title="周通报", icon=":material/summarize:", url_path="bulletin"),
    st.Page("ui/pages/status.py", title="系统状态", icon=":material/settings:", url_path="status"),
]
try:
    st.navigation(pages).run()
except DatabaseBusy:
    st.warning("数据库繁忙，请稍后重试。")
except DatabaseUnavailable:
    # the pool reconnects by itself once the server is back: a refresh is enough
    st.warning("暂时无法连接数据库，请稍后刷新页面重试。")
except SchemaOutOfDate:
    st.error("数据库结构不是最新版本，请管理员运行 python -m gis db init 后刷新页面。")
