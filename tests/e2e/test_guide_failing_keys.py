"""Guide: "How to fix a failing KMS key" (store CONNECTED, key Enabled, crypto still fails),
"How to recover deleted key material for a KMS key" and "How to respond to a cryptographic
operation failure" (spec kms.md 1.5 items 11 and 13, 3.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudhsm_helpers as ch
import pytest
from guide_helpers import (
    Env,
    build_env,
    clear_fault,
    error,
    fault,
    module_env_server,
)

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


def test_deleted_key_material_recovered_from_a_backup(server: ServerProcess) -> None:
    env = build_env(server)
    key_id = env.create_key("precious")
    arn = env.key_arn(key_id)
    blob = env.encrypt(key_id, b"old ciphertext")
    backing = env.backing_key_id(key_id)
    # A backup taken while the key exists (CloudHSM backs up every 24 hours).
    server.advance(86400 + 1)
    created = env.kms.describe_key(KeyId=key_id)["KeyMetadata"]["CreationDate"].timestamp()
    assert any(b["CreateTimestamp"].timestamp() > created for b in env.backups())

    # The key material is deleted from the cluster, by kmsuser (the key's owner).
    env.disconnect()
    env.set_kmsuser_password("auditPass1")
    code, out = env.as_kmsuser("key", "delete", "--filter", f"attr.id=0x{backing}")
    assert (code, out) == (0, {"error_code": 0, "data": {"message": "Key deleted successfully"}})
    env.update_password()
    env.connect()

    # Enabled and CONNECTED, yet every use fails (spec 7.8: the key state does not change).
    assert env.key_state(key_id) == "Enabled"
    message = (f"The key material for {arn} (backing key id {backing}) was not found in the "
               f"CloudHSM cluster {env.cluster_id}.")
    assert error(env.kms.decrypt, CiphertextBlob=blob) == ("KMSInvalidStateException", message)
    assert error(env.kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException", message)

    # 1. Find a backup that contains the key material (aws cloudhsmv2 describe-backups).
    code, out = env.aws("cloudhsmv2", "describe-backups", "--filters",
                        f"clusterIds={env.cluster_id}")
    assert code == 0, out
    candidates = [b for b in out["Backups"]
                  if b["BackupState"] == "READY" and b["CreateTimestamp"] > created]
    backup_id = max(candidates, key=lambda b: b["CreateTimestamp"])["BackupId"]
    # 2. Create a cluster from it (and give it two HSMs).
    code, out = env.aws("cloudhsmv2", "create-cluster", "--hsm-type", "hsm1.medium",
                        "--subnet-ids", *ch.subnets(server)[:2], "--source-backup-id",
                        backup_id)
    assert code == 0, out
    new_cluster = out["Cluster"]["ClusterId"]
    ch.wait_state(env.hsm, new_cluster, "ACTIVE")
    env.add_hsms(2, new_cluster)
    # "Verify that the backup contains the deleted key" (as admin, who sees every key).
    code, out = env.as_admin("key", "list", "--filter", f"attr.id=0x{backing}",
                             cluster_id=new_cluster)
    assert code == 0, out
    assert [k["attributes"]["label"] for k in out["data"]["matched_keys"]] == [arn]
    # 3.-5. Disconnect, edit the cluster ID, reconnect.
    env.disconnect()
    env.kms.update_custom_key_store(CustomKeyStoreId=env.store_id,
                                    CloudHsmClusterId=new_cluster)
    # The backup predates KMS's latest password rotation: it holds an older kmsuser password
    # ("To avoid resetting the kmsuser password, use the most recent backup").
    store = env.connect(expect="FAILED")
    assert store["ConnectionErrorCode"] == "INVALID_CREDENTIALS"
    env.disconnect()
    env.set_kmsuser_password("restoredPass1", cluster_id=new_cluster)
    env.update_password("restoredPass1")
    env.connect()
    assert env.decrypt(blob) == b"old ciphertext"
    assert env.decrypt(env.encrypt(key_id, b"new")) == b"new"


def test_all_hsms_deleted_then_one_added(env: Env) -> None:
    key_id = env.create_key()
    blob = env.encrypt(key_id, b"hsms")
    env.delete_all_hsms()
    assert env.state() == "CONNECTED"
    assert env.key_state(key_id) == "Enabled"
    assert error(env.kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException",
        f"The CloudHSM cluster {env.cluster_id} associated with the custom key store "
        f"{env.store_id} has no active HSMs. Add an HSM to the cluster.")
    # DescribeClusters shows no HSMs; add one (CreateHsm) and the key works again.
    assert env.cluster()["Hsms"] == []
    env.add_hsms(1)
    assert env.decrypt(blob) == b"hsms"
    env.add_hsms(1)


def test_cluster_deleted_and_replaced(server: ServerProcess) -> None:
    env = build_env(server)
    key_id = env.create_key()
    blob = env.encrypt(key_id, b"replaced")
    env.delete_all_hsms()
    env.hsm.delete_cluster(ClusterId=env.cluster_id)
    ch.wait_state(env.hsm, env.cluster_id, "DELETED")
    assert env.state() == "CONNECTED"
    assert error(env.kms.decrypt, CiphertextBlob=blob) == (
        "KMSInvalidStateException",
        f"KMS cannot find the CloudHSM cluster {env.cluster_id} associated with the custom key "
        f"store {env.store_id}. {env.key_arn(key_id)} cannot be used until the key store is "
        "associated with a related cluster.")
    # Create a cluster from a backup of the original, then edit the store's cluster ID.
    new_cluster = env.restore(env.backups()[-1]["BackupId"])
    env.disconnect()
    env.kms.update_custom_key_store(CustomKeyStoreId=env.store_id,
                                    CloudHsmClusterId=new_cluster)
    env.connect()  # the latest backup holds KMS's current kmsuser password
    assert env.decrypt(blob) == b"replaced"


def test_pkcs11_sessions_exhausted_fault_then_retry(env: Env) -> None:
    key_id = env.create_key()
    fault_id = fault(env.server, "pkcs11-sessions-exhausted", env.cluster_id)
    try:
        code, message = error(env.kms.encrypt, KeyId=key_id, Plaintext=b"burst")
        assert code == "KMSInternalException"
        assert "PKCS #11 sessions" in message
        assert message == ("The AWS CloudHSM cluster associated with the custom key store has "
                           "no available PKCS #11 sessions. Back off and retry the request.")
    finally:
        clear_fault(env.server, fault_id)
    # Back off and retry.
    assert env.decrypt(env.encrypt(key_id, b"burst")) == b"burst"


def test_pkcs11_sessions_really_exhausted_by_cli_sessions(
        tmp_path: Path) -> None:
    """With a pool of 3 sessions, KMS's login and two interactive cloudhsm-cli logins leave
    none for a cryptographic operation."""
    import pexpect  # noqa: PLC0415

    server = ServerProcess(tmp_path / "data", env={"HSMKMS_PKCS11_SESSIONS": "3"}).start()
    sessions: list[pexpect.spawn] = []
    try:
        env = build_env(server)
        key_id = env.create_key()
        for _ in range(2):
            sessions.append(_admin_session(server, env.cluster_id))
        code, message = error(env.kms.encrypt, KeyId=key_id, Plaintext=b"burst")
        assert code == "KMSInternalException"
        assert "PKCS #11 sessions" in message
        # A reconnect finds no session for kmsuser's login either: INTERNAL_ERROR (retry).
        env.disconnect()
        cli = _admin_session(server, env.cluster_id)
        sessions.append(cli)
        assert env.connect(expect="FAILED")["ConnectionErrorCode"] == "INTERNAL_ERROR"
        assert "failed unexpectedly" not in server.log_path.read_text()
        cli.sendline("logout")
        cli.expect_exact("Logout successful")
        env.disconnect()
        env.connect()  # a session for kmsuser again
        sessions[0].sendline("logout")  # and now one for the burst
        sessions[0].expect_exact("Logout successful")
        ch.wait_for(lambda: _try_encrypt(env, key_id), bool)
    finally:
        for cli in sessions:
            cli.close(force=True)
        server.kill()


def _admin_session(server: ServerProcess, cluster_id: str) -> Any:
    """``cloudhsm-cli interactive`` logged in as admin: it holds a PKCS #11 session."""
    import pexpect  # noqa: PLC0415

    cli = pexpect.spawn("cloudhsm-cli", ["interactive"], encoding="utf-8", timeout=20,
                        env={**server.cli_env(), "CLOUDHSM_CLUSTER_ID": cluster_id})
    cli.expect_exact("aws-cloudhsm > ")
    cli.sendline(f"login --username admin --role admin --password {ch.ADMIN_PASSWORD}")
    cli.expect_exact('"role": "admin"')
    return cli


def _try_encrypt(env: Env, key_id: str) -> bool:
    try:
        env.encrypt(key_id)
    except env.kms.exceptions.KMSInternalException:
        return False
    return True


def test_crypto_events_name_the_store_and_backing_key(env: Env) -> None:
    key_id = env.create_key()
    env.encrypt(key_id)
    trail = env.server.client("cloudtrail")
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]
    record = json.loads(events[0]["CloudTrailEvent"])
    extra = record["additionalEventData"]
    assert extra["customKeyStoreId"] == env.store_id
    assert json.loads(extra["backingKey"]) == {"backingKeyId": env.backing_key_id(key_id)}


def test_kmsuser_locked_out_while_connected(env: Env) -> None:
    """"KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked
    out" - then the repair: disconnect, reset the password, update the store, reconnect."""
    key_id = env.create_key()
    for _ in range(20):
        code, out = env.cli("login", "--username", "kmsuser", "--role", "crypto-user",
                            "--password", "guessing1")
        assert code == 1, out
        _, users = env.as_admin("user", "list")
        if next(u for u in users["data"]["users"] if u["username"] == "kmsuser")[
                "locked"] != "false":
            break
    assert env.state() == "CONNECTED"
    assert error(env.kms.encrypt, KeyId=key_id, Plaintext=b"x") == (
        "KMSInvalidStateException",
        "KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked "
        "out. If you see this error repeatedly, disconnect the AWS CloudHSM key store and "
        "reset the kmsuser account password. Update the kmsuser password for the custom key "
        "store and try the request again.")
    env.disconnect()
    env.set_kmsuser_password("resetPass8")
    env.update_password()
    env.connect()
    assert env.decrypt(env.encrypt(key_id, b"unlocked")) == b"unlocked"


def test_create_key_event_names_the_backing_key_and_its_handle(env: Env) -> None:
    key_id = env.create_key("logged")
    arn = env.key_arn(key_id)
    trail = env.server.client("cloudtrail")
    events = trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": arn}])["Events"]
    [record] = [json.loads(e["CloudTrailEvent"]) for e in events
                if e["EventName"] == "CreateKey"]
    assert record["requestParameters"]["origin"] == "AWS_CLOUDHSM"
    assert record["requestParameters"]["customKeyStoreId"] == env.store_id
    backing = json.loads(record["additionalEventData"]["backingKey"])
    # The HSM key: labelled with the key ARN, id = backingKeyId, reference = keyHandle.
    code, out = env.as_admin("key", "list", "--filter", f"attr.id=0x{backing['backingKeyId']}")
    assert code == 0, out
    [hsm_key] = out["data"]["matched_keys"]
    assert int(hsm_key["key-reference"], 16) == int(backing["keyHandle"])
    assert hsm_key["attributes"]["label"] == arn
