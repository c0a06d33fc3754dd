"""KMS use cases and jobs on a real store with fake ports: what they record for CloudTrail, and
the connection's error tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hsmkms.context import RequestContext
from hsmkms.crypto import RootKey
from hsmkms.hsm import errors as hsm_errors
from hsmkms.ids import IdSource
from hsmkms.kms import connection, jobs
from hsmkms.kms.authz import AllowAll, GrantFilter
from hsmkms.kms.backends import Backends
from hsmkms.kms.backends.local import LocalBackend
from hsmkms.kms.errors import (
    DisabledException,
    IncorrectKeyException,
    NotFoundException,
    UnsupportedOperationException,
)
from hsmkms.kms.grants import Grant, Grants
from hsmkms.kms.keys import Keys
from hsmkms.kms.keystores import ConnectionErrorCode
from hsmkms.kms.model import Key, KeyState, Origin
from hsmkms.kms.usecases.access import KeyAccess
from hsmkms.kms.usecases.aliases import Aliases
from hsmkms.kms.usecases.crypto import Crypto
from hsmkms.kms.usecases.keys import KeyLifecycle, NewKey
from hsmkms.scheduler import Scheduler
from hsmkms.store.base import Store
from hsmkms.store.codec import Codec
from hsmkms.store.sqlite import SqliteDatabase


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float, dict[str, Any]]] = []

    def record_service_event(self, scope: str, event_name: str, when: float, *,
                             resources: list[str],
                             additional_event_data: dict[str, Any] | None = None,
                             response_elements: dict[str, Any] | None = None,
                             service_event_details: dict[str, Any] | None = None) -> None:
        self.events.append((scope, event_name, when, {
            "resources": resources, "extra": additional_event_data,
            "response": response_elements, "details": service_event_details}))


class Denied(Exception):
    pass


class DenyEncrypt:
    cross_account = False

    def authorize(self, ctx: RequestContext, operation: str,  # noqa: ARG002
                  key: Key, encryption_context: dict[str, str] | None = None,  # noqa: ARG002
                  grant_filter: GrantFilter | None = None) -> None:  # noqa: ARG002
        if operation == "Encrypt":
            raise Denied(key.arn)

    def check_policy(self, ctx: RequestContext, key: Key, *, bypass: bool) -> None:
        """Policies are not evaluated here."""

    def authorize_retire(self, ctx: RequestContext, grant: Grant) -> None:
        """Grants are not retired here."""

    def authorize_on_principal(self, ctx: RequestContext, operation: str,
                               principal: str) -> None:
        """Nothing is refused here."""


class Recording:
    """Allows everything but ``deny`` (operation, key id) pairs, and records every question."""

    cross_account = False

    def __init__(self, deny: tuple[str, str] | None = None) -> None:
        self.asked: list[tuple[str, str]] = []
        self.deny = deny

    def authorize(self, ctx: RequestContext, operation: str,  # noqa: ARG002
                  key: Key, encryption_context: dict[str, str] | None = None,  # noqa: ARG002
                  grant_filter: GrantFilter | None = None) -> None:  # noqa: ARG002
        self.asked.append((operation, key.key_id))
        if (operation, key.key_id) == self.deny:
            raise Denied(operation, key.key_id)

    def check_policy(self, ctx: RequestContext, key: Key, *, bypass: bool) -> None:
        """Policies are not evaluated here."""

    def authorize_retire(self, ctx: RequestContext, grant: Grant) -> None:
        """Grants are not retired here."""

    def authorize_on_principal(self, ctx: RequestContext, operation: str,
                               principal: str) -> None:
        """Nothing is refused here."""

    def take(self) -> list[tuple[str, str]]:
        asked, self.asked = self.asked, []
        return asked


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = RootKey(os.urandom(32))
    db = SqliteDatabase(tmp_path / "hsmkms.db")
    yield Store(db, Codec(root.seal, root.unseal))
    db.close()


def _ctx(now: float = 1000.0) -> RequestContext:
    return RequestContext("111122223333", "us-east-1", "request-1", now)


def _parts(store: Store, authz: Any = None) -> tuple[KeyAccess, Scheduler]:
    access = KeyAccess(Keys(store), Backends({Origin.AWS_KMS: LocalBackend(IdSource())}),
                       authz or AllowAll())
    return access, Scheduler(store, lambda: 0.0)


def test_deletion_is_recorded_when_it_was_due(store: Store) -> None:
    access, scheduler = _parts(store)
    lifecycle = KeyLifecycle(access, scheduler)
    audit = Recorder()
    deletion = jobs.KeyDeletion(access.keys, access.backends, audit, Grants(store))
    with store.unit_of_work():
        key = lifecycle.create(_ctx(), NewKey())
        done = lifecycle.schedule_deletion(_ctx(), key.key_id, 7)
        deletion.run({"scope": _ctx().scope, "key": key.key_id}, done.deletion_date)
    assert access.keys.get(_ctx().scope, key.key_id) is None
    assert audit.events == [(_ctx().scope, "DeleteKey", 1000.0 + 7 * 86400, {
        "resources": [key.arn], "extra": None, "response": {"keyId": key.arn},
        "details": None})]


def test_a_local_key_adds_nothing_to_the_audit_of_its_call(store: Store) -> None:
    access, scheduler = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = KeyLifecycle(access, scheduler).create(ctx, NewKey())
        Crypto(access).encrypt(ctx, key.key_id, b"x", None)
    assert ctx.audit.additional_event_data == {}


def test_authorize_runs_before_the_state_policy(store: Store) -> None:
    access, scheduler = _parts(store, DenyEncrypt())
    ctx = _ctx()
    with store.unit_of_work():
        lifecycle = KeyLifecycle(access, scheduler)
        key = lifecycle.create(ctx, NewKey())
        lifecycle.disable(ctx, key.key_id)
        with pytest.raises(Denied):
            Crypto(access).encrypt(ctx, key.key_id, b"x", None)
        access.authz = AllowAll()
        with pytest.raises(DisabledException):
            Crypto(access).encrypt(ctx, key.key_id, b"x", None)


def test_the_capability_check_comes_before_the_state_policy(store: Store) -> None:
    access, scheduler = _parts(store)
    ctx = _ctx()
    with store.unit_of_work():
        key = KeyLifecycle(access, scheduler).create(ctx, NewKey())
        access.keys.save(ctx, Key(key.key_id, key.account, key.region, key.created,
                                  KeyState.DISABLED, origin=Origin.AWS_CLOUDHSM))
        with pytest.raises(UnsupportedOperationException):
            access.refuse(ctx, "EnableKeyRotation", key.key_id)


@pytest.mark.parametrize(("error", "code"), [
    (hsm_errors.UserNotFound(), ConnectionErrorCode.USER_NOT_FOUND),
    (hsm_errors.InvalidCredentials(), ConnectionErrorCode.INVALID_CREDENTIALS),
    (hsm_errors.UserLockedOut(), ConnectionErrorCode.USER_LOCKED_OUT),
    (hsm_errors.UserLoggedIn(), ConnectionErrorCode.USER_LOGGED_IN),
    (hsm_errors.NoActiveHsm(), ConnectionErrorCode.INSUFFICIENT_CLOUDHSM_HSMS),
    (hsm_errors.Pkcs11SessionsExhausted(), ConnectionErrorCode.INTERNAL_ERROR),
])
def test_login_errors(error: hsm_errors.HsmError, code: ConnectionErrorCode) -> None:
    assert connection._login_error(error) is code  # noqa: SLF001


def test_eni_errors_map_ec2_codes_to_connection_error_codes() -> None:
    from hsmkms.ec2 import errors as ec2  # noqa: PLC0415

    # A vanished subnet or security group is SUBNET_NOT_FOUND; a full subnet is its own code;
    # any other EC2 error is NETWORK_ERRORS (not in the mapping).
    assert connection.ENI_ERRORS == {
        "InvalidSubnetID.NotFound": ConnectionErrorCode.SUBNET_NOT_FOUND,
        "InvalidSecurityGroupID.NotFound": ConnectionErrorCode.SUBNET_NOT_FOUND,
        "InvalidGroup.NotFound": ConnectionErrorCode.SUBNET_NOT_FOUND,
        "InsufficientFreeAddressesInSubnet":
            ConnectionErrorCode.INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET,
    }
    # ... and those are the codes the EC2 errors answer
    assert [cls.code() for cls in (ec2.InvalidSubnetIDNotFound,
                                   ec2.InvalidSecurityGroupIDNotFound, ec2.InvalidGroupNotFound,
                                   ec2.InsufficientFreeAddressesInSubnet)] == [
        "InvalidSubnetID.NotFound", "InvalidSecurityGroupID.NotFound", "InvalidGroup.NotFound",
        "InsufficientFreeAddressesInSubnet"]


def _two_keys(store: Store, authz: Recording) -> tuple[KeyAccess, KeyLifecycle, str, str]:
    access, scheduler = _parts(store, authz)
    lifecycle = KeyLifecycle(access, scheduler)
    one = lifecycle.create(_ctx(), NewKey()).key_id
    two = lifecycle.create(_ctx(), NewKey()).key_id
    assert authz.take() == []  # CreateKey acts on no existing key
    return access, lifecycle, one, two


def test_key_use_cases_authorize_the_key_they_act_on(store: Store) -> None:
    authz = Recording()
    ctx = _ctx()
    with store.unit_of_work():
        _access, keys, key, _ = _two_keys(store, authz)
        calls = [
            ("DescribeKey", lambda: keys.describe(ctx, key)),
            ("DisableKey", lambda: keys.disable(ctx, key)),
            ("EnableKey", lambda: keys.enable(ctx, key)),
            ("UpdateKeyDescription", lambda: keys.update_description(ctx, key, "d")),
            ("TagResource", lambda: keys.tag(ctx, key, [{"TagKey": "k", "TagValue": "v"}])),
            ("UntagResource", lambda: keys.untag(ctx, key, ["k"])),
            ("ListResourceTags", lambda: keys.tags(ctx, key)),
            ("GetKeyPolicy", lambda: keys.get_policy(ctx, key, None)),
            ("PutKeyPolicy", lambda: keys.put_policy(ctx, key, None, '{"Statement": []}')),
            ("ListKeyPolicies", lambda: keys.policy_names(ctx, key)),
            ("ScheduleKeyDeletion", lambda: keys.schedule_deletion(ctx, key, 7)),
            ("CancelKeyDeletion", lambda: keys.cancel_deletion(ctx, key)),
        ]
        for operation, call in calls:
            call()
            assert authz.take() == [(operation, key)], operation


def test_refused_operations_authorize_before_refusing(store: Store) -> None:
    authz = Recording()
    with store.unit_of_work():
        access, _keys, key, _ = _two_keys(store, authz)
        with pytest.raises(UnsupportedOperationException):  # only EXTERNAL keys import
            access.refuse(_ctx(), "ImportKeyMaterial", key)
    assert authz.take() == [("ImportKeyMaterial", key)]


def test_aliases_authorize_every_key_they_touch(store: Store) -> None:
    authz = Recording()
    ctx = _ctx()
    with store.unit_of_work():
        access, _keys, one, two = _two_keys(store, authz)
        aliases = Aliases(access)
        aliases.create(ctx, "alias/a", one)
        assert authz.take() == [("CreateAlias", one)]
        # UpdateAlias needs the permission on the key the alias leaves and the one it joins
        aliases.update(ctx, "alias/a", two)
        assert authz.take() == [("UpdateAlias", one), ("UpdateAlias", two)]
        assert [a.name for a in aliases.list(ctx, two)] == ["alias/a"]
        assert authz.take() == [("ListAliases", two)]
        aliases.list(ctx, None)
        assert authz.take() == []
        aliases.delete(ctx, "alias/a")
        assert authz.take() == [("DeleteAlias", two)]
        assert aliases.list(ctx, None) == []


def test_a_refused_alias_change_changes_nothing(store: Store) -> None:
    authz = Recording()
    ctx = _ctx()
    with store.unit_of_work():
        access, _keys, one, two = _two_keys(store, authz)
        aliases = Aliases(access)
        aliases.create(ctx, "alias/a", one)
        authz.deny = ("UpdateAlias", one)  # may not move the alias off its current key
        with pytest.raises(Denied):
            aliases.update(ctx, "alias/a", two)
        authz.deny = ("DeleteAlias", one)
        with pytest.raises(Denied):
            aliases.delete(ctx, "alias/a")
        assert [(a.name, a.target_key_id) for a in aliases.list(ctx, None)] == [("alias/a", one)]


def test_crypto_use_cases_authorize_the_key_they_use(store: Store) -> None:
    authz = Recording()
    ctx = _ctx()
    with store.unit_of_work():
        access, _keys, one, two = _two_keys(store, authz)
        Aliases(access).create(ctx, "alias/one", one)
        crypto = Crypto(access)
        authz.take()
        _, blob = crypto.encrypt(ctx, "alias/one", b"x", None)
        assert authz.take() == [("Encrypt", one)]
        crypto.data_key(ctx, one, key_spec="AES_256", number_of_bytes=None, context=None,
                        dry_run=False, operation="GenerateDataKey")
        assert authz.take() == [("GenerateDataKey", one)]
        crypto.dry_run_without_blob(ctx, one, "Decrypt")
        assert authz.take() == [("Decrypt", one)]
        # Decrypt: the key the ciphertext names, once, whether or not the caller names it too
        for named in (None, one, "alias/one"):
            assert crypto.decrypt(ctx, blob, None, named)[1] == b"x"
            assert authz.take() == [("Decrypt", one)], named
        # A named key is authorized before it is compared with the ciphertext's ...
        with pytest.raises(IncorrectKeyException):
            crypto.decrypt(ctx, blob, None, two)
        assert authz.take() == [("Decrypt", two)]
        authz.deny = ("Decrypt", two)
        with pytest.raises(Denied):
            crypto.decrypt(ctx, blob, None, two)
        # ... and ReEncrypt's source is authorized as ReEncrypt
        authz.deny = None
        authz.take()
        crypto.decrypt(ctx, blob, None, None, operation="ReEncrypt")
        assert authz.take() == [("ReEncrypt", one)]


def test_a_named_key_that_does_not_exist_is_not_authorized(store: Store) -> None:
    authz = Recording()
    ctx = _ctx()
    with store.unit_of_work():
        access, _keys, one, _ = _two_keys(store, authz)
        crypto = Crypto(access)
        _, blob = crypto.encrypt(ctx, one, b"x", None)
        authz.take()
        with pytest.raises(NotFoundException):
            crypto.decrypt(ctx, blob, None, "alias/none")
    assert authz.take() == []
