"""The pure access rules: rights per role, account checks, password hashing."""

from __future__ import annotations

import pytest

from gis.core import access
from gis.errors import InputError


def test_the_rights_table_gives_each_role_what_the_office_expects():
    can = {role: access.Principal("u", role, "410102").can for role in access.USER_ROLES}
    assert can["leader"](access.READ) and can["leader"](access.SUPERVISE) and not can["leader"](access.ACT)
    assert can["community"](access.ACT) and not can["community"](access.MANAGE_USERS)
    assert can["gridworker"](access.ACT_OWN) and not can["gridworker"](access.ACT)
    assert can["dispatcher"](access.SET_STATUS) and can["dispatcher"](access.REDISPATCH)
    assert can["planner"](access.PLAN) and not can["planner"](access.SET_STATUS)
    assert can["analyst"](access.READ) and not any(can["analyst"](r) for r in (access.ACT, access.SET_STATUS,
                                                                              access.IMPORT, access.REVEAL))
    assert can["admin"](access.MANAGE_USERS) and not can["admin"](access.READ)
    assert access.SYSTEM.can(access.MAINTAIN) and "system" not in access.USER_ROLES


def test_personal_data_is_masked_for_roles_that_do_not_handle_cases():
    masked = {role for role in access.USER_ROLES if access.Principal("u", role, "X").masks_personal_data}
    assert masked == {"leader", "planner", "analyst", "admin"}


def test_the_cache_key_is_role_and_scope_not_the_person():
    a = access.Principal("a", "community", "C1", "甲")
    b = access.Principal("b", "community", "C1", "乙")
    assert a.cache_key == b.cache_key != access.Principal("c", "community", "C2").cache_key


@pytest.mark.parametrize("name, role, scope, match", [
    ("x", "analyst", "C1", "account name 'x'"),
    ("bad name", "analyst", "C1", "account name"),
    ("ok.name", "system", "C1", "role 'system'"),
    ("ok.name", "analyst", "", "has no scope"),
])
def test_a_bad_account_is_refused_with_the_field_and_fix(name, role, scope, match):
    with pytest.raises(InputError, match=match):
        access.check_account(name, role=role, scope=scope)


def test_passwords_hash_with_argon2id_salted_and_verify_only_the_right_one():
    first, second = access.hash_password("correct horse"), access.hash_password("correct horse")
    assert first.startswith("$argon2id$") and first != second  # a salt of its own
    assert access.verify_password(first, "correct horse")
    assert not access.verify_password(first, "correct horse ")
    assert not access.verify_password(None, "correct horse")
    assert not access.verify_password("not a hash", "correct horse")


def test_too_short_and_too_long_passwords_are_refused():
    with pytest.raises(InputError, match="at least 8"):
        access.hash_password("1234567")
    with pytest.raises(InputError, match="longer than 256"):
        access.hash_password("x" * 257)
