"""Who may see and do what, enforced in PostGIS: sign-in, roles, scopes, masking, the audit trail.

Every check is made twice where it matters: through the library (the jobs the app
and the CLI call) and in raw SQL as the app's database role, so a page that forgot
a filter could still not leak another community's cases.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import psycopg2.errors
import pytest

from gis import store, workflows
from gis.core import access
from gis.core.metrics import CaseFilter
from gis.errors import InputError, PermissionDenied, SignInError
from gis.store import migrate
from tests.conftest import X0, Y0, D

PASSWORD = "correct horse battery"

# one case in each community (C1: G1-01, C2: G2-01) and one unassigned, outside every grid
CASES = [
    {"source": "12345", "external_id": "C1-A", "category": "暴露垃圾", "lon": X0 + 0.5 * D, "lat": Y0 + 0.5 * D,
     "reported_at": "2026-11-20T10:00:00", "status": "received", "description": "甲社区的案件",
     "address": "甲路1号", "reporter_phone": "13812345678"},
    {"source": "12345", "external_id": "C2-A", "category": "暴露垃圾", "lon": X0 + 3.5 * D, "lat": Y0 + 0.5 * D,
     "reported_at": "2026-11-20T11:00:00", "status": "received", "description": "乙社区的案件",
     "address": "乙路2号", "reporter_phone": "13987654321"},
    {"source": "12345", "external_id": "OUT-A", "category": "暴露垃圾", "lon": X0 - 0.002, "lat": Y0 + 0.5 * D,
     "reported_at": "2026-11-20T12:00:00", "status": "received", "description": "区外", "address": "",
     "reporter_phone": ""},
]
WEEK = CaseFilter(since=date(2026, 11, 16), until=date(2026, 11, 22))


@pytest.fixture
def office(services, layer_file):
    """The tiny district with a case in each community, and an account of each kind."""
    workflows.import_grids(services, layer_file)
    for case in CASES:
        workflows.receive_incident(services, case)
    users = {
        "c1": dict(role="community", scope="C1"), "c2": dict(role="community", scope="C2"),
        "worker": dict(role="gridworker", scope="G1", display_name="黄子明"),
        "leader": dict(role="leader", scope="S1"), "analyst": dict(role="analyst", scope="410102"),
        "dispatcher": dict(role="dispatcher", scope="410102"), "admin": dict(role="admin", scope="410102"),
    }
    for name, spec in users.items():
        workflows.add_user(services, name, password=PASSWORD, **spec)
    return services


def as_user(services, name):
    return services.as_user(workflows.sign_in(services, name, PASSWORD))


def raw_sql(url, user, statement, params=None):
    """Run one statement as the app's role for ``user``, as any code holding the pool could."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SET ROLE {migrate.APP_ROLE}")
            cur.execute("SELECT set_config('gis.user', %s, true)", (user,))
            cur.execute(statement, params)
            result = cur.fetchall() if cur.description else cur.rowcount
        conn.commit()
        return result
    finally:
        conn.close()


# -- the role the jobs run as -------------------------------------------------------------------


def test_jobs_run_as_the_low_privilege_role_even_when_the_url_names_a_superuser(office):
    with office.connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
        assert cur.fetchone() == (migrate.APP_ROLE, False)
        cur.execute("SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)",
                    (migrate.APP_ROLE,))
        assert cur.fetchone()[0] == 0  # it owns nothing, so it cannot bypass or drop the policies


def test_without_a_principal_a_job_sees_no_case(office):
    nobody = office.as_user(None)
    assert len(workflows.cases(nobody, WEEK)) == 0
    assert workflows.kpis(nobody, WEEK)["current"]["received"] == 0


# -- scope --------------------------------------------------------------------------------------


def test_a_community_user_sees_only_its_own_cases_through_the_library(office):
    c1 = as_user(office, "c1")
    assert list(workflows.cases(c1, WEEK)["external_id"]) == ["C1-A"]
    assert workflows.kpis(c1, WEEK)["current"]["received"] == 1
    with pytest.raises(InputError, match="no incident"):
        workflows.incident_history(c1, source="12345", external_id="C2-A")
    system_sees = set(workflows.cases(office, WEEK)["external_id"])
    assert system_sees == {"C1-A", "C2-A", "OUT-A"}  # the unassigned case only for the whole district


def test_a_community_user_can_neither_see_nor_change_another_communitys_cases_in_raw_sql(office, database_url):
    seen = raw_sql(database_url, "c1", "SELECT external_id FROM incident ORDER BY 1")
    assert seen == [("C1-A",)]
    assert raw_sql(database_url, "c1", "SELECT count(*) FROM incident_event e "
                                       "JOIN incident i ON i.id = e.incident_id WHERE i.external_id = 'C2-A'") == [(0,)]
    changed = raw_sql(database_url, "c1", "UPDATE incident SET status = 'closed' WHERE external_id = 'C2-A'")
    assert changed == 0
    assert raw_sql(database_url, "c1", "DELETE FROM incident WHERE external_id = 'C2-A'") == 0
    with office.as_user(None).connection() as conn:  # no user named: nothing at all
        assert store.fetch_incident(conn, source="12345", external_id="C2-A") is None
    with office.connection() as conn:
        assert store.fetch_incident(conn, source="12345", external_id="C2-A")["status"] == "received"
    # its own case it may change
    assert raw_sql(database_url, "c1", "UPDATE incident SET status = 'dispatched' WHERE external_id = 'C1-A'") == 1


def test_a_community_user_cannot_move_a_case_out_of_its_scope(office, database_url):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="row-level security"):
        raw_sql(database_url, "c1", "UPDATE incident SET micro_code = 'G2-01' WHERE external_id = 'C1-A'")


def test_grids_and_staff_are_limited_to_the_scope_and_its_ancestors(office, database_url):
    codes = {row[0] for row in raw_sql(database_url, "c1", "SELECT code FROM grid")}
    assert codes == {"410102", "S1", "C1", "G1", "G1-01", "G1-02"}
    c1 = as_user(office, "c1")
    assert set(workflows.grid_version(c1).grids["code"]) == codes
    assert len(workflows.grid_version(office).grids) == 12  # the system's own cache entry: every grid


def test_a_grid_worker_acts_only_on_the_cases_dispatched_to_them(office, database_url):
    with office.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE incident SET assignee = '黄子明' WHERE external_id = 'C1-A'")
    assert raw_sql(database_url, "worker", "UPDATE incident SET status = 'in_progress' "
                                           "WHERE external_id = 'C1-A'") == 1
    with office.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE incident SET assignee = '别人' WHERE external_id = 'C1-A'")
    assert raw_sql(database_url, "worker", "UPDATE incident SET status = 'resolved' "
                                           "WHERE external_id = 'C1-A'") == 0


def test_a_leader_may_put_a_case_under_supervision_but_not_close_it(office, database_url):
    assert raw_sql(database_url, "leader", "UPDATE incident SET status = 'supervised' "
                                           "WHERE external_id = 'C1-A'") == 1
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        raw_sql(database_url, "leader", "UPDATE incident SET status = 'closed' WHERE external_id = 'C1-A'")


def test_an_analyst_cannot_change_or_import_cases(office, database_url):
    assert raw_sql(database_url, "analyst", "SELECT count(*) FROM incident") == [(3,)]
    assert raw_sql(database_url, "analyst", "UPDATE incident SET status = 'closed'") == 0
    analyst = as_user(office, "analyst")
    with pytest.raises(PermissionDenied):
        workflows.list_users(analyst)


def test_a_disabled_account_can_no_longer_sign_in_and_its_open_session_sees_nothing(office):
    c1 = as_user(office, "c1")
    workflows.disable_user(office.as_user(workflows.sign_in(office, "admin", PASSWORD)), "c1")
    assert len(workflows.cases(c1, WEEK)) == 0
    with pytest.raises(SignInError, match=workflows.WRONG_CREDENTIALS_ZH):
        workflows.sign_in(office, "c1", PASSWORD)


# -- signing in -------------------------------------------------------------------------------------


def test_an_unknown_account_and_a_wrong_password_get_the_same_answer(office):
    with pytest.raises(SignInError) as unknown:
        workflows.sign_in(office, "nobody", PASSWORD)
    with pytest.raises(SignInError) as wrong:
        workflows.sign_in(office, "c1", "wrong password")
    assert str(unknown.value) == str(wrong.value)


def test_repeated_failures_lock_the_account_even_against_the_right_password(office):
    for _ in range(access.MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInError):
            workflows.sign_in(office, "c2", "wrong password")
    with pytest.raises(SignInError, match="已锁定"):
        workflows.sign_in(office, "c2", PASSWORD)
    admin = office.as_user(workflows.sign_in(office, "admin", PASSWORD))
    assert workflows.list_users(admin).set_index("name").loc["c2", "state"] == "locked"
    workflows.set_password(admin, "c2", password="a new long password")
    assert workflows.sign_in(office, "c2", "a new long password").scope == "C2"


def test_the_system_account_cannot_sign_in(office):
    with pytest.raises(SignInError):
        workflows.sign_in(office, "system", "")


def test_passwords_are_stored_as_argon2id_hashes_the_app_role_cannot_read(office, database_url, pg_server):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        raw_sql(database_url, "admin", "SELECT password_hash FROM app_user")
    conn = psycopg2.connect(database_url)  # the owner
    with conn, conn.cursor() as cur:
        cur.execute("SELECT password_hash FROM app_user WHERE name = 'c1'")
        stored = cur.fetchone()[0]
    conn.close()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_short_password_is_refused_with_the_rule(office):
    admin = office.as_user(workflows.sign_in(office, "admin", PASSWORD))
    with pytest.raises(InputError, match="at least 8"):
        workflows.add_user(admin, "newbie", role="analyst", scope="410102", password="short")
    with pytest.raises(InputError, match="scope 'NOPE' is not a grid"):
        workflows.add_user(admin, "newbie", role="analyst", scope="NOPE", password=PASSWORD)


# -- personal data ------------------------------------------------------------------------------------


def test_reporter_phones_are_masked_for_roles_that_do_not_handle_cases(office):
    analyst = as_user(office, "analyst")
    incident, _ = workflows.incident_history(analyst, source="12345", external_id="C1-A")
    assert incident["reporter_phone"] == "138****5678"
    with pytest.raises(PermissionDenied):
        workflows.reveal_reporter(analyst, source="12345", external_id="C1-A")
    c1 = as_user(office, "c1")
    assert workflows.incident_history(c1, source="12345", external_id="C1-A")[0]["reporter_phone"] == "13812345678"


def test_a_leader_may_reveal_a_phone_and_the_reveal_is_audited(office):
    leader = as_user(office, "leader")
    assert workflows.incident_history(leader, source="12345", external_id="C1-A")[0]["reporter_phone"] \
        == "138****5678"
    assert workflows.reveal_reporter(leader, source="12345", external_id="C1-A") == "13812345678"
    trail = workflows.audit_trail(leader, actions=["reveal"])
    assert list(trail["actor"]) == ["leader"] and list(trail["object"]) == ["incident:12345/C1-A"]
    with pytest.raises(InputError):  # another street's case: as if it did not exist
        workflows.reveal_reporter(leader, source="12345", external_id="C2-A")


# -- the audit trail ------------------------------------------------------------------------------------


def test_status_changes_sign_ins_exports_and_user_changes_are_audited_with_before_and_after(office, tmp_path):
    c1 = as_user(office, "c1")
    workflows.set_incident_status(c1, source="12345", external_id="C1-A", status="dispatched", actor="甲社区")
    workflows.export_incidents(office, tmp_path / "all.csv")
    with pytest.raises(SignInError):
        workflows.sign_in(office, "c2", "wrong password")
    trail = workflows.audit_trail(office)
    by_action = {action: rows for action, rows in trail.groupby("action")}
    change = by_action["status_change"].iloc[0]
    assert change["actor"] == "c1" and change["object"] == "incident:12345/C1-A"
    assert change["before"]["status"] == "received" and change["after"]["status"] == "dispatched"
    assert set(by_action["sign_in"]["actor"]) >= {"c1"}
    assert by_action["sign_in_failed"].iloc[0]["after"] == {"outcome": "failed"}
    assert by_action["export"].iloc[0]["after"]["rows"] == 3
    assert len(by_action["user_add"]) == 7 and "password_hash" not in str(by_action["user_add"]["after"].tolist())
    assert by_action["grids_commit"].iloc[0]["actor"] == "system"
    assert by_action["import"].iloc[0]["actor"] == "system"


def test_the_audit_trail_is_append_only_even_for_the_owner(office, database_url):
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        conn = psycopg2.connect(database_url)  # the owner (a superuser here)
        try:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="append-only"):
                with conn.cursor() as cur:
                    cur.execute(statement)
        finally:
            conn.close()
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        raw_sql(database_url, "admin", "INSERT INTO audit_log (actor, action) VALUES ('forged', 'sign_in')")


def test_only_leaders_admins_and_the_system_read_the_audit_trail(office):
    assert len(workflows.audit_trail(as_user(office, "admin"))) > 0
    with pytest.raises(PermissionDenied):
        workflows.audit_trail(as_user(office, "c1"))


def test_a_session_sees_nothing_once_its_account_is_disabled_or_its_scope_changed(office, database_url):
    c1 = as_user(office, "c1")
    assert workflows.whoami(c1) == c1.principal
    with office.transaction() as conn, conn.cursor() as cur:
        cur.execute("UPDATE app_user SET scope_code = 'C2' WHERE name = 'c1'")
    # the session signed in for C1: it must sign in again, and fills no cache meanwhile
    assert workflows.whoami(c1) is None and len(workflows.cases(c1, WEEK)) == 0
    again = as_user(office, "c1")
    assert list(workflows.cases(again, WEEK)["external_id"]) == ["C2-A"]
    workflows.disable_user(office, "c1")
    assert workflows.whoami(again) is None and len(workflows.cases(again, WEEK)) == 0
