"""``python -m gis users …`` and the demo accounts, as an administrator scripts them."""

from __future__ import annotations

import psycopg2
import pytest

from gis import workflows
from gis.core import access
from gis.errors import SignInError

PASSWORD = "a long enough password"


@pytest.fixture
def grids_loaded(services, layer_file):
    workflows.import_grids(services, layer_file)
    return services


def test_users_add_reads_the_password_from_stdin_and_the_account_signs_in(grids_loaded, cli):
    done = cli("users", "add", "zhang.wei", "--role", "community", "--scope", "C1", "--display-name", "张伟",
               "--password-stdin", input=PASSWORD + "\nignored second line\n")
    assert done.returncode == 0, done.stderr
    assert "account zhang.wei added: community (社区), scope C1" in done.stdout
    principal = workflows.sign_in(grids_loaded, "zhang.wei", PASSWORD)
    assert principal == access.Principal("zhang.wei", "community", "C1", "张伟")
    listed = cli("users", "list")
    assert listed.returncode == 0 and "zhang.wei" in listed.stdout and "active" in listed.stdout
    assert "argon2" not in listed.stdout


def test_users_add_without_a_terminal_or_stdin_flag_refuses_with_the_fix(grids_loaded, cli):
    done = cli("users", "add", "li.na", "--role", "analyst", "--scope", "410102", input="")
    assert done.returncode == 2
    assert "--password-stdin" in done.stderr and "Traceback" not in done.stderr


def test_users_add_refuses_an_unknown_scope_a_short_password_and_a_taken_name(grids_loaded, cli):
    bad_scope = cli("users", "add", "li.na", "--role", "analyst", "--scope", "X9", "--password-stdin",
                    input=PASSWORD + "\n")
    assert bad_scope.returncode == 2 and "scope 'X9' is not a grid of the active version" in bad_scope.stderr
    short = cli("users", "add", "li.na", "--role", "analyst", "--scope", "410102", "--password-stdin",
                input="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr
    assert cli("users", "add", "li.na", "--role", "analyst", "--scope", "410102", "--password-stdin",
               input=PASSWORD + "\n").returncode == 0
    taken = cli("users", "add", "li.na", "--role", "leader", "--scope", "S1", "--password-stdin",
                input=PASSWORD + "\n")
    assert taken.returncode == 2 and "exists already" in taken.stderr
    bad_role = cli("users", "add", "wang", "--role", "superuser", "--scope", "S1", "--password-stdin",
                   input=PASSWORD + "\n")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_users_disable_stops_sign_in_and_set_password_lifts_a_lock(grids_loaded, cli):
    cli("users", "add", "li.na", "--role", "analyst", "--scope", "410102", "--password-stdin", input=PASSWORD + "\n")
    assert cli("users", "disable", "li.na").returncode == 0
    with pytest.raises(SignInError):
        workflows.sign_in(grids_loaded, "li.na", PASSWORD)
    assert "disabled" in cli("users", "list").stdout
    missing = cli("users", "disable", "nobody")
    assert missing.returncode == 2 and "no account named 'nobody'" in missing.stderr


def test_the_demo_creates_one_account_per_role_and_prints_each_password_once(services, cli):
    first = cli("demo", "--incidents", "200", "--seed", "3")
    assert first.returncode == 0, first.stderr
    lines = [line.split() for line in first.stdout.splitlines() if line.strip().startswith("demo_")]
    accounts = {parts[0]: parts[1] for parts in lines}
    assert set(accounts) == {f"demo_{role}" for role in access.USER_ROLES}
    leader = workflows.sign_in(services, "demo_leader", accounts["demo_leader"])
    assert (leader.role, leader.scope) == ("leader", "410102009")
    worker = workflows.sign_in(services, "demo_gridworker", accounts["demo_gridworker"])
    assert worker.role == "gridworker" and worker.display_name != "demo_gridworker"  # the roster's name
    again = cli("demo", "--incidents", "200", "--seed", "3")
    assert again.returncode == 0 and "passwords are unchanged" in again.stdout
    assert accounts["demo_leader"] not in again.stdout


def test_demo_if_empty_gives_demo_grids_stored_before_sign_in_existed_their_accounts(services, cli):
    assert cli("demo", "--incidents", "0", "--seed", "3").returncode == 0
    with services.transaction() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM app_user WHERE role <> 'system'")
        assert cur.fetchone()[0] == len(access.USER_ROLES)
    with psycopg2.connect(services.database.url) as conn, conn.cursor() as cur:  # as the owner: an older database
        cur.execute("DELETE FROM app_user WHERE role <> 'system'")
    again = cli("demo", "--if-empty")
    assert again.returncode == 0 and "not reloaded" in again.stdout
    assert "demo_leader" in again.stdout and "shown this once" in again.stdout
