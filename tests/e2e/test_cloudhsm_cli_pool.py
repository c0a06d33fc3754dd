"""PKCS #11 session pools and backups, end to end through ``cloudhsm-cli``: interactive
sessions exhaust a small pool (and starve a connected key store), and a cluster restored from a
backup has the users, password hashes, lock state and keys of the backup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_cloudhsm_cli import Session, as_admin, cli, failure, new_cluster, user_row, wait
from test_cloudhsm_cli_sessions import WRONG, add_user, try_login

from hsmkms.testing.server import ServerProcess


@pytest.fixture
def server(hsmkms_server: ServerProcess) -> ServerProcess:
    return hsmkms_server


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "pool-data", env={"HSMKMS_PKCS11_SESSIONS": "2"}).start()
    try:
        yield proc
    finally:
        proc.kill()


def test_pkcs11_sessions_can_be_exhausted(small_pool: ServerProcess) -> None:
    cid = new_cluster(small_pool)
    add_user(small_pool, cid, "alice", "alicepw1")
    hsm_id = small_pool.client("cloudhsmv2").describe_clusters(
        Filters={"clusterIds": [cid]})["Clusters"][0]["Hsms"][0]["HsmId"]
    exhausted = failure(f"No PKCS #11 session is available on HSM {hsm_id}: all 2 sessions "
                        "are in use.")
    first, second = Session(small_pool, cid), Session(small_pool, cid)
    try:
        assert first.login("alice", "crypto-user", "alicepw1")["error_code"] == 0
        assert second.login("admin", "admin", "adminpass1")["error_code"] == 0
        # every login session holds one PKCS #11 session on each HSM
        assert as_admin(small_pool, cid, "user", "list")["error_code"] == 0  # needs no login
        assert cli(small_pool, cid, "key", "list", role="crypto-user",
                   pin="alice:alicepw1") == exhausted
        assert try_login(small_pool, cid, "alice", "wrongpw1") == exhausted  # not counted
        assert user_row(small_pool, cid, "alice")["locked"] == "false"
        assert second.run("logout")["error_code"] == 0
        assert cli(small_pool, cid, "key", "list", role="crypto-user",
                   pin="alice:alicepw1")["error_code"] == 0
    finally:
        first.quit()
        second.quit()


def test_restored_cluster_has_the_contents_of_the_backup(server: ServerProcess) -> None:
    cid = new_cluster(server, 2)
    hsm = server.client("cloudhsmv2")
    add_user(server, cid, "kmsuser", "kmspass1")
    add_user(server, cid, "locked_cu", "lockedpw1")
    for _ in range(10):
        try_login(server, cid, "locked_cu", "wrongpw1")
    made = cli(server, cid, "key", "generate-symmetric", "aes", "--label", "kept",
               "--key-length-bytes", "32", "--attributes", "id=0xabcdef",
               role="crypto-user", pin="kmsuser:kmspass1")["data"]["key"]
    # removing an HSM from an ACTIVE cluster takes a backup (AWS manage-backups)
    before = {b["BackupId"] for b in hsm.describe_backups(
        Filters={"clusterIds": [cid]})["Backups"]}
    victim = hsm.describe_clusters(Filters={"clusterIds": [cid]})["Clusters"][0]["Hsms"][1]
    hsm.delete_hsm(ClusterId=cid, HsmId=victim["HsmId"])
    backup = wait(lambda: next((b for b in hsm.describe_backups(
        Filters={"clusterIds": [cid]})["Backups"]
        if b["BackupId"] not in before and b["BackupState"] == "READY"), None), "a backup")
    # later changes are not in that backup
    assert cli(server, cid, "key", "delete", "--filter", "attr.label=kept",
               role="crypto-user", pin="kmsuser:kmspass1")["error_code"] == 0
    as_admin(server, cid, "user", "change-password", "--username", "kmsuser", "--role",
             "crypto-user", "--password", "kmspass2")

    restored = hsm.create_cluster(HsmType="hsm1.medium", SourceBackupId=backup["BackupId"],
                                  SubnetIds=[next(iter(victim["SubnetId"].split()))])
    rid = restored["Cluster"]["ClusterId"]
    wait(lambda: hsm.describe_clusters(Filters={"clusterIds": [rid]})["Clusters"][0][
        "State"] == "ACTIVE", "restored cluster ACTIVE")
    zone = victim["AvailabilityZone"]
    hsm.create_hsm(ClusterId=rid, AvailabilityZone=zone)
    wait(lambda: any(h["State"] == "ACTIVE" for h in hsm.describe_clusters(
        Filters={"clusterIds": [rid]})["Clusters"][0]["Hsms"]), "restored HSM")
    assert user_row(server, rid, "admin")["role"] == "admin"
    assert user_row(server, rid, "locked_cu")["locked"] == "true"
    assert try_login(server, rid, "kmsuser", "kmspass2") == WRONG  # the old password is back
    listed = cli(server, rid, "key", "list", "--verbose", role="crypto-user",
                 pin="kmsuser:kmspass1")["data"]["matched_keys"]
    assert [k["key-reference"] for k in listed] == [made["key-reference"]]
    assert listed[0]["attributes"]["check-value"] == made["attributes"]["check-value"]
    assert listed[0]["attributes"]["id"] == "0xabcdef"


@pytest.fixture
def pool_of_three(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "pool3-data", env={"HSMKMS_PKCS11_SESSIONS": "3"}).start()
    try:
        yield proc
    finally:
        proc.kill()


def test_cli_sessions_starve_kms_of_pkcs11_sessions(pool_of_three: ServerProcess) -> None:
    from guide_helpers import ADMIN_PASSWORD, build_env  # noqa: PLC0415

    env = build_env(pool_of_three)  # KMS connected: one login session
    key_id = env.create_key()
    blob = env.encrypt(key_id)  # borrows a second PKCS #11 session for the call
    sessions = [Session(pool_of_three, env.cluster_id) for _ in range(2)]
    try:
        assert sessions[0].login("admin", "admin", ADMIN_PASSWORD)["error_code"] == 0
        assert env.decrypt(blob) == b"guide"
        assert sessions[1].login("admin", "admin", ADMIN_PASSWORD)["error_code"] == 0
        with pytest.raises(env.kms.exceptions.KMSInternalException) as exc:
            env.encrypt(key_id)
        assert exc.value.response["Error"]["Message"] == (
            "The AWS CloudHSM cluster associated with the custom key store has no available "
            "PKCS #11 sessions. Back off and retry the request.")
        assert sessions[1].run("logout")["error_code"] == 0
        assert env.decrypt(blob) == b"guide"
    finally:
        for s in sessions:
            s.quit()
