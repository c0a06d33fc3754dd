"""Guide: "How to fix unavailable KMS keys" and the disconnected-store part of "How to fix a
failing KMS key" (spec kms.md 1.1 Unavailable overlay, 1.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from guide_helpers import Env, build_env, error, module_env_server

from hsmkms.testing.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = module_env_server(tmp_path_factory)
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def env(server: ServerProcess) -> Env:
    return build_env(server)


def test_disconnect_makes_keys_unavailable_and_reconnect_restores_them(env: Env) -> None:
    kms = env.kms
    enabled, disabled, pending = env.create_key("e"), env.create_key("d"), env.create_key("p")
    kms.disable_key(KeyId=disabled)
    kms.schedule_key_deletion(KeyId=pending, PendingWindowInDays=30)
    blob = env.encrypt(enabled, b"before")

    env.disconnect()
    assert [env.key_state(k) for k in (enabled, disabled, pending)] == \
        ["Unavailable", "Unavailable", "PendingDeletion"]
    meta = kms.describe_key(KeyId=enabled)["KeyMetadata"]
    assert meta["Enabled"] is False
    # Crypto fails with KMSInvalidStateException, creating keys with
    # CustomKeyStoreInvalidStateException (the guide, "How to fix a failing KMS key").
    arn = meta["Arn"]
    assert error(kms.encrypt, KeyId=enabled, Plaintext=b"x") == (
        "KMSInvalidStateException", f"{arn} is unavailable.")
    assert error(kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException", f"{arn} is unavailable.")
    assert error(kms.generate_data_key, KeyId=enabled, KeySpec="AES_256")[0] == \
        "KMSInvalidStateException"
    assert error(kms.re_encrypt, CiphertextBlob=blob, DestinationKeyId=enabled)[0] == \
        "KMSInvalidStateException"
    assert error(kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=env.store_id)[0] == \
        "CustomKeyStoreInvalidStateException"
    # Management still works: describe, tag, aliases, policy.
    kms.tag_resource(KeyId=enabled, Tags=[{"TagKey": "k", "TagValue": "v"}])
    kms.create_alias(AliasName="alias/unavailable-one", TargetKeyId=enabled)
    code, out = env.aws("kms", "describe-key", "--key-id", "alias/unavailable-one")
    assert code == 0, out
    assert out["KeyMetadata"]["KeyState"] == "Unavailable"

    env.connect()
    assert [env.key_state(k) for k in (enabled, disabled, pending)] == \
        ["Enabled", "Disabled", "PendingDeletion"]
    assert env.decrypt(blob) == b"before"


def test_enable_and_disable_while_unavailable_take_effect_on_reconnect(env: Env) -> None:
    kms = env.kms
    to_disable, to_enable = env.create_key(), env.create_key()
    kms.disable_key(KeyId=to_enable)
    env.disconnect()
    # Both succeed (HTTP 200) but the state stays Unavailable (key-state footnote 12).
    kms.disable_key(KeyId=to_disable)
    code, out = env.aws("kms", "enable-key", "--key-id", to_enable)
    assert (code, out) == (0, None)
    assert env.key_state(to_disable) == env.key_state(to_enable) == "Unavailable"
    env.connect()
    assert env.key_state(to_disable) == "Disabled"
    assert env.key_state(to_enable) == "Enabled"


def test_schedule_and_cancel_deletion_while_disconnected(env: Env) -> None:
    kms = env.kms
    key_id = env.create_key()
    env.disconnect()
    answer = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert answer["KeyState"] == "PendingDeletion"
    # Pending deletion even while disconnected, so it can be cancelled without reconnecting.
    assert env.key_state(key_id) == "PendingDeletion"
    code, out = env.aws("kms", "cancel-key-deletion", "--key-id", key_id)
    assert code == 0, out
    assert out["KeyId"] == env.key_arn(key_id)
    # Cancelled keys are Disabled; while disconnected that shows as Unavailable (spec 7.7).
    assert env.key_state(key_id) == "Unavailable"
    env.connect()
    assert env.key_state(key_id) == "Disabled"
    kms.enable_key(KeyId=key_id)
    assert env.decrypt(env.encrypt(key_id, b"again")) == b"again"


def test_keys_are_unavailable_while_connecting_and_failed(env: Env, server: ServerProcess) -> None:
    key_id = env.create_key()
    env.disconnect()
    # A wrong password makes the next attempt fail: FAILED, keys still Unavailable.
    env.update_password("wrongPassword9")
    env.kms.connect_custom_key_store(CustomKeyStoreId=env.store_id)
    assert env.key_state(key_id) == "Unavailable"
    store = env.wait("FAILED")
    assert store["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    assert env.key_state(key_id) == "Unavailable"
    env.disconnect()
    assert "ConnectionErrorCode" not in env.store()
    env.set_kmsuser_password("knownPassword2")
    env.update_password()
    env.connect()
    assert env.key_state(key_id) == "Enabled"
