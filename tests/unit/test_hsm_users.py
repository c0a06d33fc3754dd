"""Users across HSMs: creation, lockout per HSM, inconsistency, activation, deletion rules."""

from __future__ import annotations

import pytest

from hsmkms.hsm import errors, keys, passwords, users
from hsmkms.hsm.material import new_aes_material
from hsmkms.hsm.model import HsmContents, Role
from hsmkms.store.codec import Codec


def activated(n: int = 1) -> tuple[HsmContents, ...]:
    return users.activate(tuple(HsmContents() for _ in range(n)), "adminpass1")


def test_fresh_hsm_has_unactivated_admin_and_appliance_user() -> None:
    rows = users.list_users((HsmContents(),))
    assert rows == [
        {"username": "admin", "role": "unactivated-admin", "locked": "false", "mfa": [],
         "cluster-coverage": "full"},
        {"username": "app_user", "role": "internal(APPLIANCE_USER)", "locked": "false",
         "mfa": [], "cluster-coverage": "full"},
    ]


def test_activation_sets_admin_password_once() -> None:
    c = activated(2)
    assert users.list_users(c)[0]["role"] == "admin"
    assert users.login(c, "admin", "adminpass1", Role.ADMIN).error is None
    with pytest.raises(errors.ClusterStateError, match="already activated"):
        users.activate(c, "another1")


def test_unactivated_admin_cannot_log_in() -> None:
    out = users.login((HsmContents(),), "admin", "whatever", Role.ADMIN)
    assert isinstance(out.error, errors.ClusterStateError)


def test_password_stored_only_as_salted_scrypt_hash() -> None:
    c = users.create_user(activated(), "alice", Role.CRYPTO_USER, "secret99")
    alice = c[0].user("alice")
    assert alice is not None
    assert b"secret99" not in bytes(alice.password_hash)
    assert len(alice.salt) == 16
    assert alice.password_hash == passwords.hash_password("secret99", alice.salt)
    sealed = Codec(lambda b: "SEALED:" + b.hex(), bytes.fromhex).dump(c[0])
    assert "SEALED:" in str(sealed)


@pytest.mark.parametrize("name", ["", "a" * 32, "bad-name", "bad name", "é"])
def test_username_rules(name: str) -> None:
    with pytest.raises(errors.InvalidInput, match="1 to 31 characters"):
        passwords.normalise_username(name)


def test_username_is_case_insensitive() -> None:
    assert passwords.normalise_username("KmsUser") == "kmsuser"


@pytest.mark.parametrize("pw", ["short1", "x" * 33, "has:colon"])
def test_password_rules(pw: str) -> None:
    with pytest.raises(errors.InvalidInput, match="7 to 32 characters"):
        passwords.check_password_rules(pw)


@pytest.mark.parametrize("pw", ["tab\there1", "ctrl\x01pw1", "del\x7fpass", "newline\npw"])
def test_passwords_are_printable(pw: str) -> None:
    with pytest.raises(errors.InvalidInput, match="only printable characters"):
        passwords.check_password_rules(pw)


def test_printable_passwords_may_have_spaces_and_symbols() -> None:
    for pw in ("with space1", "p@ss-wörd!", "~!#$%^&*()_+"):
        passwords.check_password_rules(pw)


def test_hsm2m_needs_eight_characters() -> None:
    passwords.check_password_rules("seven77")
    with pytest.raises(errors.InvalidInput, match="8 to 32"):
        passwords.check_password_rules("seven77", "hsm2m.medium")


def test_lockout_after_five_failures_on_a_single_hsm() -> None:
    c = users.create_user(activated(), "bob", Role.CRYPTO_USER, "bobpass1")
    for _ in range(5):
        out = users.login(c, "bob", "wrong-pw", Role.CRYPTO_USER)
        assert isinstance(out.error, errors.InvalidCredentials)
        c = out.contents
    out = users.login(c, "bob", "bobpass1", Role.CRYPTO_USER)
    assert isinstance(out.error, errors.UserLockedOut)
    assert users.list_users(c)[2]["locked"] == "true"
    c = users.change_password(c, "bob", Role.CRYPTO_USER, "newpass1")
    assert users.list_users(c)[2]["locked"] == "false"
    assert users.login(c, "bob", "newpass1", Role.CRYPTO_USER).error is None


def test_failures_are_counted_per_hsm_and_locked_reads_inconsistent() -> None:
    c = users.create_user(activated(2), "bob", Role.CRYPTO_USER, "bobpass1")
    for _ in range(9):
        c = users.login(c, "bob", "wrong-pw", Role.CRYPTO_USER).contents
    assert [x.user("bob").failed_logins for x in c] == [5, 4]  # type: ignore[union-attr]
    assert users.list_users(c)[2]["locked"] == "inconsistent"
    c = users.login(c, "bob", "wrong-pw", Role.CRYPTO_USER).contents
    assert users.list_users(c)[2]["locked"] == "true"


def test_success_resets_counter() -> None:
    c = users.create_user(activated(), "bob", Role.CRYPTO_USER, "bobpass1")
    for _ in range(4):
        c = users.login(c, "bob", "wrong-pw", Role.CRYPTO_USER).contents
    out = users.login(c, "bob", "bobpass1", Role.CRYPTO_USER)
    assert out.error is None
    assert out.contents[0].user("bob").failed_logins == 0  # type: ignore[union-attr]


def test_unknown_user_and_wrong_role() -> None:
    c = users.create_user(activated(), "bob", Role.CRYPTO_USER, "bobpass1")
    assert isinstance(users.login(c, "nobody", "x" * 8, Role.ADMIN).error, errors.UserNotFound)
    assert isinstance(users.login(c, "bob", "bobpass1", Role.ADMIN).error, errors.UserNotFound)


def test_create_duplicate_and_finish_partial_create() -> None:
    c = users.create_user(activated(2), "bob", Role.CRYPTO_USER, "bobpass1")
    with pytest.raises(errors.UserAlreadyExists):
        users.create_user(c, "bob", Role.CRYPTO_USER, "bobpass1")
    partial = (c[0], activated()[0])
    assert users.list_users(partial)[2]["cluster-coverage"] == "inconsistent"
    fixed = users.create_user(partial, "bob", Role.CRYPTO_USER, "bobpass1")
    assert users.list_users(fixed)[2]["cluster-coverage"] == "full"


def test_delete_rules() -> None:
    c = users.create_user(activated(), "bob", Role.CRYPTO_USER, "bobpass1")
    with pytest.raises(errors.UserNotFound):
        users.delete_user(c, "bob", Role.ADMIN)
    with pytest.raises(errors.PermissionDenied):
        users.delete_user(c, "admin", Role.ADMIN)
    c2, _ref = keys.generate_aes(c, keys.Actor("bob", Role.CRYPTO_USER), 32, "k",
                                 new_aes_material(32))
    with pytest.raises(errors.UserOwnsKeys):
        users.delete_user(c2, "bob", Role.CRYPTO_USER)
    assert users.user_role(users.delete_user(c, "bob", Role.CRYPTO_USER), "bob") is None


def test_no_active_hsm() -> None:
    with pytest.raises(errors.NoActiveHsm):
        users.create_user((), "bob", Role.CRYPTO_USER, "bobpass1")
