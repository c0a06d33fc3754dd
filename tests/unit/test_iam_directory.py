"""The IAM directory's rules without HTTP: entities, quotas, conflicts, the verifier's view of
a user's key, identity policies per principal, and the CloudTrail identity of each principal
(spec authz.md §3, §3.7, §4.5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hsmkms.auth import identity
from hsmkms.auth import policy as iam
from hsmkms.iam import errors as e
from hsmkms.iam.directory import Directory
from hsmkms.iam.model import role_arn
from hsmkms.principal import ASSUMED_ROLE, Principal, root
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase
from hsmkms.trail.record import principal_identity

A = "111122223333"
ALLOW_ENCRYPT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]})
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Deny", "Action": "*", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": A}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = SqliteDatabase(tmp_path / "state.db")
    yield Store(db, Codec(lambda b: b.hex(), bytes.fromhex))
    db.close()


def request(principal: Principal, action: str) -> iam.Request:
    return iam.Request(identity.caller(principal), action, "arn:aws:kms:us-east-1:1:key/k",
                       identity.principal_keys(principal))


def test_user_key_is_found_until_inactive_or_deleted(store: Store) -> None:
    d = Directory(store)
    user = d.create_user(A, "Bob", "/", 10.0)
    key, secret = d.create_access_key(A, "bob", 11.0)
    found = d.credential(key.access_key_id)
    assert found is not None and found.secret_text == secret
    assert found.principal == Principal("IAMUser", A, f"arn:aws:iam::{A}:user/Bob",
                                        user.user_id, user_name="Bob")
    d.update_access_key(A, "Bob", key.access_key_id, "Inactive")
    assert d.credential(key.access_key_id) is None
    d.update_access_key(A, "Bob", key.access_key_id, "Active")
    d.delete_access_key(A, "Bob", key.access_key_id)
    assert d.credential(key.access_key_id) is None


def test_entities_persist_in_the_store(store: Store, tmp_path: Path) -> None:
    d = Directory(store)
    d.create_user(A, "kept", "/p/", 1.0)
    d.create_role(A, "KeptRole", "/", TRUST, 1.0, max_session=7200)
    again = Directory(Store(SqliteDatabase(tmp_path / "state.db"),
                            Codec(lambda b: b.hex(), bytes.fromhex)))
    assert again.user(A, "KEPT").path == "/p/"
    assert again.role(A, "keptrole").max_session == 7200


def test_quotas_and_conflicts(store: Store) -> None:
    d = Directory(store)
    d.create_user(A, "q", "/", 1.0)
    d.create_access_key(A, "q", 1.0)
    d.create_access_key(A, "q", 2.0)
    with pytest.raises(e.LimitExceeded, match="AccessKeysPerUser: 2"):
        d.create_access_key(A, "q", 3.0)
    with pytest.raises(e.DeleteConflict, match="must delete access keys first"):
        d.delete_user(A, "q")
    with pytest.raises(e.EntityAlreadyExists):
        d.create_user(A, "Q", "/", 1.0)
    with pytest.raises(e.MalformedPolicyDocument, match="should not specify a principal"):
        d.put_inline(A, "user", "q", "p", TRUST)
    # another account's namespace is separate
    d.create_user("444455556666", "q", "/", 1.0)


def test_identity_policies_of_users_and_sessions(store: Store) -> None:
    d = Directory(store)
    user = d.create_user(A, "u", "/", 1.0)
    policy = d.create_policy(A, "Enc", "/", ALLOW_ENCRYPT, 1.0)
    d.attach(A, "user", "u", f"arn:aws:iam::{A}:policy/Enc")
    me = Principal("IAMUser", A, f"arn:aws:iam::{A}:user/u", user.user_id, user_name="u")
    assert identity.combine(d.identity_policies(me), request(me, "kms:Encrypt")).allows
    assert not identity.combine(d.identity_policies(me), request(me, "kms:Decrypt")).allows
    d.put_inline(A, "user", "u", "deny", DENY_ALL)
    assert identity.combine(d.identity_policies(me), request(me, "kms:Encrypt")).denied
    assert policy.attachments == 0 and d.policy(f"arn:aws:iam::{A}:policy/Enc")[1].attachments == 1

    role = d.create_role(A, "R", "/svc/", TRUST, 1.0)
    d.put_inline(A, "role", "R", "enc", ALLOW_ENCRYPT)
    session = Principal(ASSUMED_ROLE, A, f"arn:aws:sts::{A}:assumed-role/R/s",
                        f"{role.role_id}:s", role_arn=role_arn(A, role), role_id=role.role_id,
                        role_name="R", session_name="s", issued=5.0)
    assert identity.combine(d.identity_policies(session), request(session, "kms:Encrypt")).allows
    # a role re-created under the same name is not the session's role
    d.delete_inline(A, "role", "R", "enc")
    d.delete_role(A, "R")
    d.create_role(A, "R", "/svc/", TRUST, 2.0)
    assert d.identity_policies(session) == ()
    assert d.identity_policies(root(A)) == ()


def test_refusal_messages() -> None:
    user = Principal("IAMUser", A, f"arn:aws:iam::{A}:user/u", "AIDAX", user_name="u")
    none = iam.Outcome(denied=False, allows=frozenset())
    assert identity.refusal(user, "kms:CreateKey", "*", none) == (
        f"User: arn:aws:iam::{A}:user/u is not authorized to perform: kms:CreateKey on "
        "resource: * because no identity-based policy allows the kms:CreateKey action")
    assert identity.refusal(user, "kms:TagResource", "", iam.Outcome(True, frozenset())) == (
        f"User: arn:aws:iam::{A}:user/u is not authorized to perform: kms:TagResource with an "
        "explicit deny in an identity-based policy")


def test_trail_identity_per_principal() -> None:
    assert principal_identity(root(A), "AKIAROOT") == {
        "type": "Root", "principalId": A, "arn": f"arn:aws:iam::{A}:root", "accountId": A,
        "accessKeyId": "AKIAROOT"}
    session = Principal(ASSUMED_ROLE, A, f"arn:aws:sts::{A}:assumed-role/R/s", "AROAX:s",
                        role_arn=f"arn:aws:iam::{A}:role/svc/R", role_id="AROAX",
                        role_name="R", session_name="s", issued=0.0)
    assert principal_identity(session, "ASIAX")["sessionContext"] == {
        "sessionIssuer": {"type": "Role", "principalId": "AROAX",
                          "arn": f"arn:aws:iam::{A}:role/svc/R", "accountId": A,
                          "userName": "R"},
        "attributes": {"mfaAuthenticated": "false", "creationDate": "1970-01-01T00:00:00Z"}}


def test_long_expired_sessions_are_forgotten(store: Store) -> None:
    from hsmkms.auth.credentials import EXPIRED_KEPT, AccessKeys  # noqa: PLC0415

    keys = AccessKeys(store)
    keys.add_temporary(A, "ASIAOLD0000000000000", "s" * 40, principal_arn="arn", session_token="t",
                       expires=EXPIRED_KEPT + 100.0, issued=EXPIRED_KEPT + 10.0)
    keys.add_temporary(A, "ASIANEW0000000000000", "s" * 40, principal_arn="arn", session_token="t",
                       expires=2 * EXPIRED_KEPT + 200.0, issued=2 * EXPIRED_KEPT + 50.0)
    assert keys.get("ASIAOLD0000000000000") is not None  # expired, not long enough ago
    keys.add_temporary(A, "ASIALAT0000000000000", "s" * 40, principal_arn="arn", session_token="t",
                       expires=4 * EXPIRED_KEPT, issued=3 * EXPIRED_KEPT + 100.0)
    assert keys.get("ASIAOLD0000000000000") is None
    assert keys.get("ASIANEW0000000000000") is not None
