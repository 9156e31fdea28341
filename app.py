"""网格通 — the Streamlit entry: a router over ui/pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="网格通 · 网格化治理", page_icon="🗺️", layout="wide")

pages = [
    st.Page("ui/pages/status.py", title="系统状态", icon="🛠️", url_path="status"),
]
st.navigation(pages).run()
