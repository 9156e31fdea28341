"""Signing in and out: the form (账号, 密码, 登录), the optional single sign-on button, the
signed-in user in the sidebar, and which pages a role may open.

The principal lives in ``st.session_state`` (one browser session, kept on the
server; the browser holds no token of ours). Until there is one, app.py shows
the form and no page runs, whatever the URL. Passwords are never kept: the
form is cleared when submitted.

Single sign-on is Streamlit's OIDC (``st.login``), used only when
``.streamlit/secrets.toml`` has an ``[auth]`` section (README, "Signing in and
roles"): the identity provider vouches for the person, and the local account
of the same name (``preferred_username`` or the e-mail address) gives the role
and scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from gis import workflows
from gis.core import access
from gis.core.access import Principal
from gis.errors import SignInError
from ui import cached

#: Where the signed-in principal is kept in ``st.session_state``.
SESSION_KEY = "principal"
#: Set by a sign-in for the next run: a page the new user may not open gives way to the home page.
JUST_SIGNED_IN = "just_signed_in"
#: An identity from single sign-on that has no local account (so it is not tried on every rerun).
_REFUSED_KEY = "sso_refused"


@dataclass(frozen=True)
class PageSpec:
    """One page of the app and the right a role needs to open it (None: every signed-in role;
    a tuple: any one of them)."""

    file: str
    title: str
    icon: str
    url_path: str
    right: str | tuple[str, ...] | None


#: The pages, in menu order; each role's first page is its home page (``/``).
PAGES = (
    PageSpec("ui/pages/situation.py", "态势地图", ":material/map:", "map", access.READ),
    PageSpec("ui/pages/cases.py", "工单", ":material/assignment:", "cases", access.READ),
    PageSpec("ui/pages/work.py", "工单处置", ":material/task_alt:", "work",
             (access.ACT, access.ACT_OWN, access.SET_STATUS, access.REDISPATCH, access.SUPERVISE)),
    PageSpec("ui/pages/queue.py", "待分派", ":material/move_to_inbox:", "queue", access.REDISPATCH),
    PageSpec("ui/pages/bulletin.py", "通报", ":material/summarize:", "bulletin", access.READ),
    PageSpec("ui/pages/planning.py", "网格规划", ":material/edit_location_alt:", "planning", access.PLAN),
    PageSpec("ui/pages/audit.py", "审计日志", ":material/policy:", "audit", access.READ_AUDIT),
    PageSpec("ui/pages/status.py", "系统状态", ":material/settings:", "status", None),
)


def may_open(user: Principal | None, page: PageSpec) -> bool:
    if user is None:
        return False
    if page.right is None:
        return True
    rights = (page.right,) if isinstance(page.right, str) else page.right
    return any(user.can(r) for r in rights)


def menu(user: Principal | None) -> list[PageSpec]:
    """The pages ``user`` may open, in menu order (none before sign-in)."""
    return [p for p in PAGES if may_open(user, p)]


def navigation_pages(user: Principal | None) -> list:
    """The ``st.Page`` list for ``st.navigation``.

    Every page is registered, so a URL such as ``/cases?category=…`` keeps its page
    and its filters across the sign-in; the pages a user may not open are hidden
    from the menu, and the page itself refuses them (:func:`require_user`). Before
    sign-in every page is hidden and none runs (app.py shows the form); the home
    page is the first, the map, as it is for most roles afterwards.
    """
    allowed = menu(user)
    home = allowed[0] if allowed else PAGES[0]
    return [st.Page(spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=spec == home,
                    visibility="visible" if spec in allowed else "hidden")
            for spec in PAGES]


#: Set for the next lines of app.py when the URL named no page of the app (the home page runs instead).
PAGE_NOT_FOUND = "page_not_found"


def quiet_page_not_found() -> None:
    """Say "no such page" in Chinese: an unknown URL (``/xyz``) runs the home page, and app.py
    shows :data:`PAGE_NOT_FOUND`'s notice instead of Streamlit's English "Page not found" dialog.

    ``st.navigation`` tells the browser through ``streamlit.commands.navigation.send_page_not_found``
    (Streamlit 1.67; there is no public option): that call is replaced, once per process, by one
    that leaves the notice to the app. tests/browser/test_chinese_browser.py opens an unknown URL
    and fails if the English dialog comes back after an upgrade.
    """
    from streamlit.commands import navigation as nav
    if getattr(nav.send_page_not_found, "_gis_quiet", False):
        return

    def remember(ctx) -> None:  # the signature Streamlit calls it with
        st.session_state[PAGE_NOT_FOUND] = True

    remember._gis_quiet = True
    nav.send_page_not_found = remember


def current_user() -> Principal | None:
    """The principal of this browser session, None before sign-in."""
    user = st.session_state.get(SESSION_KEY)
    return user if isinstance(user, Principal) else None


def require_user(right: str | None = access.READ) -> Principal:
    """The signed-in principal, when its role has ``right``; otherwise stop the page.

    app.py runs a page only for a user allowed to open it; pages still ask, so a
    page run on its own (tests, a mistake in the navigation) never shows data.
    """
    user = current_user()
    if user is None:
        st.stop()
    if right is not None and not user.can(right):
        st.warning("您的账号无权查看此页面。")
        st.stop()
    return user


def sign_in(user: Principal, *, sso: bool = False) -> None:
    """Start the session of ``user`` (widget state of an earlier user is dropped)."""
    sign_out_state()
    st.session_state[SESSION_KEY] = user
    st.session_state["sso"] = sso
    st.session_state[JUST_SIGNED_IN] = True


def sign_out_state() -> None:
    """Forget the principal and everything the session kept (filters, revealed numbers)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def sign_in_page(services: workflows.Services) -> None:
    """The sign-in screen: the form, and the single sign-on button when configured."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("网格通")
        st.caption("街道网格化治理平台 · 请先登录")
        notice = st.session_state.pop("sign_in_notice", None)
        if notice:
            st.warning(notice)
        with st.form("sign_in", clear_on_submit=True):
            name = st.text_input("账号", key="sign_in_name", autocomplete="username")
            password = st.text_input("密码", type="password", key="sign_in_password",
                                     autocomplete="current-password")
            submitted = st.form_submit_button("登录", type="primary", width="stretch")
        if submitted:
            try:
                user = workflows.sign_in(services, name, password)
            except SignInError as exc:
                st.error(exc.message)
            else:
                sign_in(user)
                st.rerun()
        if sso_configured():
            st.divider()
            _sso_sign_in(services)


def sso_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures Streamlit's OIDC sign-in (``[auth]``)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all (Streamlit raises its own not-found error)
        return False


def _sso_sign_in(services: workflows.Services) -> None:
    """After ``st.login``: the local account named like the verified identity; before: the button."""
    if not getattr(st.user, "is_logged_in", False):
        st.button("使用统一身份认证登录", on_click=st.login, width="stretch", key="sso_sign_in")
        return
    name = str(st.user.get("preferred_username") or st.user.get("email") or "")
    if st.session_state.get(_REFUSED_KEY) != name:
        try:
            user = workflows.sign_in_verified(services, name)
        except SignInError as exc:
            st.session_state[_REFUSED_KEY] = name
            st.session_state["sso_message"] = exc.message
        else:
            sign_in(user, sso=True)
            st.rerun()
    st.error(st.session_state.get("sso_message", "账号未开通"))
    st.button("退出统一身份认证", on_click=st.logout, key="sso_sign_out")


def sidebar_user(user: Principal) -> None:
    """Who is signed in (name and role) and the 退出登录 button, in the sidebar."""
    with st.sidebar:
        st.markdown(f"**{user.display_name or user.name}** · {user.role_zh}")
        if user.can(access.REDISPATCH):  # the count of 待分派 cases, for the roles that dispatch them
            waiting = cached.queue_count(user)
            st.caption(f"待分派工单：{waiting} 条" if waiting else "待分派工单：无")
        if st.button("退出登录", key="sign_out", width="stretch"):
            sso = st.session_state.get("sso", False)
            sign_out_state()
            if sso:
                # also drop the identity cookie (or the next run would sign in again); Streamlit
                # then sends the browser through the provider's sign-out to a new session
                st.logout()
                st.stop()
            st.rerun()


def still_valid(services: workflows.Services, user: Principal) -> bool:
    """Whether the account still exists, is enabled and has the role and scope it signed in with.

    Cached frames are shared by ``(role, scope)``; a session whose account changed
    since sign-in must not fill the cache of its old key with its new rows.
    """
    found = workflows.whoami(services.as_user(user))
    return found is not None and found.cache_key == user.cache_key
