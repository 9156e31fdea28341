"""Who may see and do what: roles, their rights, the signed-in principal, passwords.

Every role has a *scope*: a grid code (the district, a street, a community, a
tertiary grid or an exclusive grid); it sees the cases of that grid's subtree.
The rights below are the one definition: ``db init`` writes them into the
database (``gis_role_rights``), where row-level security enforces them, and
the app reads them here to decide what to show.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's
recommended parameters), never stored or logged in clear.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import argon2

from gis.errors import InputError

# -- rights --------------------------------------------------------------------------------------

READ = "read"                  # read cases, events, staff and grids in scope
SUPERVISE = "supervise"        # 督办: put a case in scope under supervision
ACT = "act"                    # act on any case in scope (status, notes)
ACT_OWN = "act_own"            # act on the cases dispatched to oneself
SET_STATUS = "set_status"      # move any case in scope along its lifecycle
REDISPATCH = "redispatch"      # 转派: send a case to another person
IMPORT = "import"              # store new cases (imports, intake)
PLAN = "plan"                  # grid drafts and commits
MANAGE_STAFF = "manage_staff"  # the staff roster
MANAGE_USERS = "manage_users"  # accounts and roles
READ_AUDIT = "read_audit"      # the audit trail
PERSONAL_DATA = "personal_data"  # see reporters' phones unmasked
REVEAL = "reveal"              # unmask one case's personal data on request (logged)
EXPORT = "export"              # download case lists (logged)
MAINTAIN = "maintain"          # bulk maintenance: demo loads, truncation, index rebuilds

RIGHTS = (READ, SUPERVISE, ACT, ACT_OWN, SET_STATUS, REDISPATCH, IMPORT, PLAN, MANAGE_STAFF, MANAGE_USERS,
          READ_AUDIT, PERSONAL_DATA, REVEAL, EXPORT, MAINTAIN)

SYSTEM_ROLE = "system"  # the CLI and schedulers: no sign-in, no password, everything

#: Each role's rights: the table of the trust issue. Roles that handle a case
#: talk to the resident and see the phone; the others see it masked, and a leader
#: may reveal one case's (logged).
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "leader": frozenset({READ, SUPERVISE, READ_AUDIT, REVEAL, EXPORT}),
    "community": frozenset({READ, ACT, PERSONAL_DATA, EXPORT}),
    "gridworker": frozenset({READ, ACT_OWN, PERSONAL_DATA}),
    "dispatcher": frozenset({READ, SET_STATUS, REDISPATCH, IMPORT, PERSONAL_DATA, EXPORT}),
    "planner": frozenset({READ, PLAN}),
    "analyst": frozenset({READ, EXPORT}),
    "admin": frozenset({MANAGE_USERS, MANAGE_STAFF, READ_AUDIT}),
    SYSTEM_ROLE: frozenset(RIGHTS),
}
#: The roles an account can be given (the system role belongs to the CLI alone).
USER_ROLES = tuple(role for role in ROLE_RIGHTS if role != SYSTEM_ROLE)

ROLE_NAMES_ZH = {"leader": "街道领导", "community": "社区", "gridworker": "专职网格员", "dispatcher": "调度员",
                 "planner": "规划员", "analyst": "分析员", "admin": "管理员", SYSTEM_ROLE: "系统"}

# -- sign-in rules ---------------------------------------------------------------------------------

MAX_FAILED_SIGN_INS = 5      # failures in a row that lock an account
LOCKOUT_S = 15 * 60          # how long a locked account waits
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 256
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


@dataclass(frozen=True)
class Principal:
    """The signed-in user (or the system) on whose behalf a job runs.

    The store sets ``name`` per transaction; the database looks up the role and
    scope itself, so row-level security never trusts what the caller claims.
    ``(role, scope)`` is the key of every per-user cache: two users with the same
    role and scope see the same rows.

    Attributes
    ----------
    name
        Account name (``app_user.name``).
    role
        One of :data:`ROLE_RIGHTS`.
    scope
        Grid code whose subtree the user sees; None for the system.
    display_name
        The person's name as the roster and ``incident.assignee`` spell it.
    """

    name: str
    role: str
    scope: str | None
    display_name: str = ""

    def can(self, right: str) -> bool:
        """Whether the role has ``right`` (one of :data:`RIGHTS`)."""
        return right in ROLE_RIGHTS.get(self.role, frozenset())

    @property
    def masks_personal_data(self) -> bool:
        """Whether reporters' phones are shown masked to this user."""
        return not self.can(PERSONAL_DATA)

    @property
    def cache_key(self) -> tuple[str, str | None]:
        """What a cached frame may be shared by: the same rows and the same masking."""
        return (self.role, self.scope)

    @property
    def role_zh(self) -> str:
        return ROLE_NAMES_ZH.get(self.role, self.role)


#: The principal of the command line and schedulers (its account is made by ``db init``).
SYSTEM = Principal(name="system", role=SYSTEM_ROLE, scope=None, display_name="系统")


def check_account(name: str, *, role: str, scope: str | None) -> None:
    """Refuse an account name, role or scope that cannot be stored, with the fix."""
    if not _ACCOUNT_NAME.match(name or ""):
        raise InputError(f"account name '{name}' is not 2–64 letters, digits or _ . @ -", field="name",
                         fix="choose a name such as zhang.wei or jianshe_leader")
    if role not in USER_ROLES:
        raise InputError(f"role '{role}' is not one of {', '.join(USER_ROLES)}", field="role",
                         fix="pass --role with one of the listed roles")
    if not scope:
        raise InputError(f"account '{name}' has no scope", field="scope",
                         fix="pass --scope with the grid code the user is responsible for (the district for all)")


def check_password(password: str) -> None:
    """Refuse a password too short or too long to be useful (length is what counts, per NIST SP 800-63B)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the password has {len(password)} characters; at least {MIN_PASSWORD_CHARS} are needed",
                         field="password", fix="choose a longer password (a phrase works well)")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"the password is longer than {MAX_PASSWORD_CHARS} characters", field="password",
                         fix="choose a shorter password")


_hasher = argon2.PasswordHasher()  # immutable parameters; safe to share between threads


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (with its own salt and parameters)."""
    check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash; False for a missing or damaged hash."""
    if not password_hash:
        # same work as a real check, so a missing account cannot be told apart by timing
        _verify_dummy()
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # made on the first unknown account, not when the module loads (every CLI verb and page imports it)
    return _hasher.hash("dummy-password-for-timing")


def _verify_dummy() -> None:
    try:
        _hasher.verify(_dummy_hash(), "not-the-password")
    except argon2.exceptions.VerificationError:
        pass
