"""网格通 — the Streamlit entry: sign-in, then a router over the pages the user's role may open.

Until the browser session has signed in, no page runs and no data is read,
whatever the URL; the pages a role may not use are hidden from the menu and
refuse to run. Database trouble (busy, restarting, schema out of date) is shown
in Chinese, and a restart is waited out without a reload (ui/widgets.run_guarded).
"""

import streamlit as st

from ui import auth, cached, state, widgets

# an emoji page icon becomes a data: URI; a ":material/…:" one is fetched from Google (offline rule)
st.set_page_config(page_title="网格通 · 网格化治理", page_icon="🗺️", layout="wide")
widgets.hide_english_hints()
auth.quiet_page_not_found()


def main() -> None:
    services = cached.services()
    user = auth.current_user()
    if user is not None and not auth.still_valid(services, user):
        # disabled, or given another role or scope since signing in: sign in again
        auth.sign_out_state()
        st.session_state["sign_in_notice"] = "账号权限已变更，请重新登录。"
        user = None
    navigation = st.navigation(auth.navigation_pages(user), position="sidebar" if user else "hidden")
    not_found = st.session_state.pop(auth.PAGE_NOT_FOUND, False)
    if user is None:
        if not_found:
            st.session_state["sign_in_notice"] = "未找到所请求的页面，登录后将打开首页。"
        auth.sign_in_page(services)
        return
    if not_found:
        st.info("未找到所请求的页面，已打开首页。")
    if st.session_state.pop(auth.JUST_SIGNED_IN, False) and navigation.title not in {
            p.title for p in auth.menu(user)}:
        # signed in on a page of the previous user's (or a link) that this role may not open
        st.switch_page(auth.menu(user)[0].file)
    auth.sidebar_user(user)
    # the menu and page links open a page with an empty query string: the filter follows the user
    state.carry_to_url()
    navigation.run()


widgets.run_guarded(main)
